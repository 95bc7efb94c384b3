"""The toy zoo: the quick preset builds once per session (in a temporary cache) and is measured honestly."""

import json

import pytest

from rayswarm.agents import zoo
from rayswarm.agents.sources import check_source
from rayswarm.agents.toyworld import DOMAINS, KNOWLEDGE_DOMAINS
from rayswarm.graphs.errors import DataError, SourceError
from rayswarm.graphs.tasks import read_examples


def test_quick_zoo_has_a_base_and_one_adapter_per_domain(quick_zoo):
    assert (quick_zoo.base / "config.json").is_file() and (quick_zoo.base / "tokenizer.json").is_file()
    assert set(quick_zoo.experts) == set(DOMAINS)
    assert not list(quick_zoo.base.parent.glob(".ckpt-*")), "training checkpoints go once the models are saved"
    for folder in quick_zoo.experts.values():
        assert (folder / "adapter_config.json").is_file()
        assert json.loads((folder / "adapter_config.json").read_text())["r"] == zoo.PRESETS["quick"].lora_r


def test_every_quick_expert_beats_the_base_on_its_own_knowledge_domain(quick_zoo):
    rows = quick_zoo.report["rows"]
    for domain in KNOWLEDGE_DOMAINS:
        assert rows[domain][domain] >= rows["base"][domain] + 0.2, (domain, rows)


def test_the_report_table_names_every_model_and_column(quick_zoo):
    table = zoo.format_report(quick_zoo.report)
    lines = table.splitlines()
    assert all(any(line.startswith(model) for line in lines) for model in ("base", *DOMAINS))
    assert all(column in lines[1] for column in (*DOMAINS, "composed", "passages"))
    assert "chain of the right experts" in table and "best single model" in table


def test_a_cached_zoo_is_reused_without_training(quick_zoo, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("retrained a cached model")

    monkeypatch.setattr(zoo, "_train_base", refuse)
    monkeypatch.setattr(zoo, "_train_expert", refuse)
    monkeypatch.setattr(zoo, "measure", refuse)
    again = zoo.build_zoo("quick", progress=False)
    assert again.base == quick_zoo.base and again.experts == quick_zoo.experts
    assert zoo.built_zoo("quick").report == quick_zoo.report
    assert zoo.resolve_tiny("quick/codes") == (quick_zoo.base, quick_zoo.experts["codes"])
    assert zoo.resolve_tiny("quick/base") == (quick_zoo.base, None)


def test_an_interrupted_build_resumes_with_the_missing_expert_only(quick_zoo, monkeypatch):
    import shutil

    trained = []
    real = zoo._train_expert

    def record(preset, domain, progress):
        trained.append(domain)
        return real(preset, domain, progress)

    def refuse(*args, **kwargs):
        raise AssertionError("retrained the cached base")

    folder = quick_zoo.experts["twins"]
    before = (folder / "adapter_model.safetensors").read_bytes()
    shutil.rmtree(folder)
    monkeypatch.setattr(zoo, "_train_base", refuse)
    monkeypatch.setattr(zoo, "_train_expert", record)
    zoo.build_zoo("quick", progress=False)
    assert trained == ["twins"]
    assert (folder / "adapter_model.safetensors").read_bytes() == before  # deterministic from the seed
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".tmp-")]


def test_zoo_models_load_as_agents_and_answer_in_the_graph_format(quick_zoo):
    from rayswarm.agents.toyeval import answer
    from rayswarm.agents.toyworld import make_tasks, make_world

    agent = zoo.load_agent(zoo.PRESETS["quick"], "codes")
    examples = make_tasks(make_world(zoo.PRESETS["quick"].world))["codes"]["test"][:8]
    outputs = answer(agent, examples)
    assert sum(o == ex.target for o, ex in zip(outputs, examples, strict=True)) >= 4


def test_task_dirs_hold_dev_and_test_jsonl(quick_cache):
    for name in ("quick/mixed", "quick/composed", "quick/codes", "quick/sort"):
        folder = zoo.task_dir(name)
        dev, test = read_examples(folder / "dev.jsonl"), read_examples(folder / "test.jsonl")
        assert dev and test and not {e.input for e in dev} & {e.input for e in test}
    composed = read_examples(zoo.task_dir("quick/composed") / "test.jsonl")
    assert {"type", "order", "seen"} <= set(composed[0].meta)
    assert read_examples(zoo.task_dir("quick/codes") / "dev.jsonl")[0].meta["domain"] == "codes"
    # The standard preset's tasks need no models either.
    assert (zoo.task_dir("capitals") / "test.jsonl").is_file()


def test_unknown_names_are_one_line_errors_with_a_suggestion(quick_cache):
    with pytest.raises(SourceError, match='did you mean "quick/codes"'):
        zoo.resolve_tiny("quick/codez")
    with pytest.raises(SourceError, match="unknown tiny model 'slow/base'"):
        zoo.check_tiny_name("slow/base")
    # The untrained tiny models are tiny names too: a typo of one is suggested, from the source check.
    with pytest.raises(SourceError, match='did you mean "random-llama"'):
        check_source("tiny:randm-llama")
    with pytest.raises(SourceError, match='did you mean "capitals"'):
        zoo.check_tiny_name("capitols")
    with pytest.raises(DataError, match='did you mean "composed"'):
        zoo.task_dir("composd")
    with pytest.raises(SourceError, match="preset"):
        zoo.memorized_passages("slow")
    assert zoo.check_tiny_name("quick/sort")[1] == "sort" and zoo.check_tiny_name("base")[0].name == "standard"


def test_check_tiny_name_and_built_zoo_build_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("RAYSWARM_CACHE", str(tmp_path))
    zoo.check_tiny_name("twins")
    zoo.check_tiny_name("quick/base")
    assert not list(tmp_path.iterdir())
    with pytest.raises(SourceError, match="rayswarm zoo build --preset quick"):
        zoo.built_zoo("quick")
    assert not list(tmp_path.glob("zoo/quick/*"))


def test_memorized_passages_are_long_enough_to_mine():
    passages = zoo.memorized_passages("quick")
    assert passages == zoo.memorized_passages("quick") and len(set(passages)) == len(passages)
    assert all(len(p) >= 96 for p in passages)
    assert zoo.memorized_passages() != passages


def test_training_rows_are_the_chat_template_with_loss_on_the_answer_only():
    from rayswarm.agents.tokenizer import build_char_tokenizer
    from rayswarm.agents.toydata import TrainItem
    from rayswarm.agents.toytrain import IGNORE, encode
    from rayswarm.agents.toyworld import collab_prompt

    tokenizer = build_char_tokenizer()
    prompt = collab_prompt("What is the capital of the country with code K7Q?", ["Bokia, Xyz"])
    items = [TrainItem(prompt, "Bokia, Tamon"), TrainItem(prompt, "Bokia, ", complete=False), TrainItem(None, "<s>Old salt.")]
    rows = encode(items, tokenizer)
    full = tokenizer.apply_chat_template([{"role": "user", "content": prompt},
                                          {"role": "assistant", "content": "Bokia, Tamon"}], tokenize=False)
    ids, labels = rows[0]
    assert tokenizer.decode(ids) == full
    assert tokenizer.decode([t for t in labels if t != IGNORE]) == "Bokia, Tamon" + tokenizer.eos_token
    ids, labels = rows[1]  # a first hop: loss on its own part, no end of sequence
    assert tokenizer.decode([t for t in labels if t != IGNORE]) == "Bokia, "
    assert ids[-1] != tokenizer.eos_token_id
    ids, labels = rows[2]  # a raw passage: loss everywhere, starting after its BOS
    assert ids[0] == tokenizer.bos_token_id and labels == ids[:len(labels)] and ids[-1] == tokenizer.eos_token_id
