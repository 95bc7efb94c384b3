"""FlexOlmo on Ray: owners' Ray Train jobs (isolation, checkpoints, resume) and the `rayswarm flexolmo` verbs."""

import json
import os
import shutil

import pytest
import torch

from rayswarm.cli import main

# Before Ray Train starts: no print patching, and report() without a ~2 s wait per checkpoint.
os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.1")

CONFIG = """
name: flex
world: quick
workdir: {root}
public: {{model: toy, steps: 30, batch_size: 8}}
owners:
  codes: {{data: "toy:codes"}}
  sort: {{data: "toy:sort"}}
expert: {{steps: 4, batch_size: 4, checkpoint_every: 2, cpus_per_worker: 0.25}}
router: {{embedder: public, samples: 16, tune_steps: 2, proxy_items: 8}}
eval: {{limit: 3}}
"""


@pytest.fixture(scope="module")
def trained(ray_local, tmp_path_factory):
    """A work folder after `rayswarm flexolmo train` and `merge` (tiny sizes: a plumbing check)."""
    root = tmp_path_factory.mktemp("flexolmo") / "work"
    config = root.parent / "flex.yaml"
    config.write_text(CONFIG.format(root=root))
    assert main(["flexolmo", "train", str(config)]) == 0
    assert main(["flexolmo", "merge", str(config)]) == 0
    return config, root


def load_config(config):
    from rayswarm.flexolmo_config import load_flexolmo

    return load_flexolmo(str(config))


def weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_each_owner_job_sees_only_its_own_data(trained):
    config, root = trained
    cfg = load_config(config)
    for owner, other in (("codes", "sort"), ("sort", "codes")):
        job = cfg.job(owner)
        assert str(cfg.data_path(other)) not in json.dumps(job.model_dump())  # the workers' whole config
        kept = [p for p in (root / "train" / f"expert-{owner}").glob("checkpoint_*") if p.is_dir()]
        assert len(kept) == 2  # reported through ray.train.report, num_to_keep=2
        meta = json.loads((root / "experts" / owner / "flexolmo.json").read_text())
        assert meta["experts"] == ["public", owner] and meta["steps"] == 4


def test_an_interrupted_job_resumes_to_the_same_weights(trained, tmp_path):
    from rayswarm.clusters.flexolmo_train import run_expert_job

    config, root = trained
    job = load_config(config).job("codes").model_copy(
        update={"storage": str(tmp_path / "train"), "output": str(tmp_path / "codes")})
    first = run_expert_job(job.model_copy(update={"stop_after": 2}))
    assert first.metrics["step"] == 2 and not (tmp_path / "codes").exists()
    assert "sort" not in json.dumps(first.metrics["runtime_env"])  # the job's runtime env, as its worker saw it
    resumed = run_expert_job(job)  # same storage and owner: continues from the step-2 checkpoint
    assert resumed.metrics["step"] == 4
    uninterrupted, again = weights(root / "experts" / "codes"), weights(tmp_path / "codes")
    assert uninterrupted.keys() == again.keys()
    assert all(torch.equal(uninterrupted[key], again[key]) for key in again)


def test_a_data_parallel_job_takes_the_same_steps_as_one_worker(trained, tmp_path):
    from rayswarm.clusters.flexolmo_train import run_expert_job

    config, root = trained
    job = load_config(config).job("codes").model_copy(
        update={"storage": str(tmp_path / "train"), "output": str(tmp_path / "codes"), "workers": 2})
    result = run_expert_job(job)
    assert result.metrics["step"] == 4 and result.metrics["workers"] == 2
    one, two = weights(root / "experts" / "codes"), weights(tmp_path / "codes")
    for key in one:
        assert torch.allclose(one[key], two[key], atol=1e-5), key  # same batches, same token-mean gradients
        if ".mlp.experts.0." in key:  # the public FFN, the anchor: untouched either way, bit for bit
            assert torch.equal(one[key], two[key]), key
        if ".mlp.experts.1." in key:  # the owner's FFN (a copy of the public one at step 0) has moved
            assert not torch.equal(two[key], two[key.replace(".experts.1.", ".experts.0.")]), key


def test_merge_eval_and_masked_generation(trained, capsys):
    config, root = trained
    meta = json.loads((root / "merged" / "flexolmo.json").read_text())
    assert meta["experts"] == ["public", "codes", "sort"] and meta["router_tuning"]["steps"] == 2
    assert main(["flexolmo", "eval", str(config)]) == 0
    summary = json.loads(next(root.glob("eval-*/summary.json")).read_text())
    assert set(summary["table"]) == {"public", "expert:codes", "expert:sort", "merged", "merged-no-codes",
                                     "merged-no-sort", "average"}
    assert set(summary["table"]["merged"]) == {"codes", "sort", "mean"}
    capsys.readouterr()
    assert main(["flexolmo", "generate", str(root / "merged"), "--exclude", "sort", "Sort the letters: dcba"]) == 0
    assert "->" in capsys.readouterr().out


def test_the_joint_baseline_has_the_merged_shape_and_equal_steps(trained):
    from rayswarm.agents import flexolmo_model as fm

    config, root = trained
    assert main(["flexolmo", "eval", str(config), "--joint"]) == 0
    summary = json.loads(sorted(root.glob("eval-*/summary.json"))[-1].read_text())
    assert "joint-moe" in summary["table"] and set(summary["table"]["joint-moe"]) == {"codes", "sort", "mean"}
    joint, meta = fm.load(root / "joint")
    merged, _ = fm.load(root / "merged")
    assert meta["experts"] == ["public", "codes", "sort"] and meta["joint_steps"] == 2 * 4  # two owners x 4 steps
    # Shared weights stay the public model's (as the merged model's do); the expert slots started as
    # copies of one public FFN, which the merged model keeps in slot 0: in the joint model all moved.
    shared_joint, shared_merged = fm.shared_state(joint), fm.shared_state(merged)
    assert shared_joint and all(torch.equal(shared_joint[k], shared_merged[k]) for k in shared_merged)
    public_slot = fm.expert_ffn(merged, 0, 0)[0]
    assert all(not torch.equal(fm.expert_ffn(joint, 0, slot)[0], public_slot) for slot in range(3))


def test_a_missing_owner_data_path_fails_before_training(trained, tmp_path, capsys):
    config, _ = trained
    bad = tmp_path / "bad.yaml"
    bad.write_text(config.read_text().replace('"toy:sort"', f'"{tmp_path}/nowhere.jsonl"')
                   .replace(str(load_config(config).root), str(tmp_path / "work")))
    assert main(["flexolmo", "train", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "owner 'sort': no data at" in err
    assert not (tmp_path / "work" / "public").exists()  # nothing trained


def test_an_unknown_expert_in_a_mask_is_one_line(trained, capsys):
    _, root = trained
    assert main(["flexolmo", "generate", str(root / "merged"), "--experts", "public,code", "hi"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("rayswarm: error: unknown expert 'code' (did you mean \"codes\"?); known: public, codes, sort")


def test_an_expert_of_another_public_model_is_refused_before_loading(trained, tmp_path, capsys):
    config, root = trained
    work = tmp_path / "work"
    shutil.copytree(root, work, ignore=shutil.ignore_patterns("train", "eval-*"))
    meta = work / "experts" / "sort" / "flexolmo.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "public_id": "0123456789abcdef"}))
    moved = tmp_path / "flex.yaml"
    moved.write_text(config.read_text().replace(str(root), str(work)))
    assert main(["flexolmo", "merge", str(moved)]) == 2
    assert "expert 'sort' was trained from a different public model" in capsys.readouterr().err


def test_bad_config_keys_are_one_line(tmp_path, capsys):
    config = tmp_path / "flex.yaml"
    config.write_text("name: x\nowners: {codes: {data: 'toy:code'}}\n")
    assert main(["flexolmo", "train", str(config)]) == 2
    assert "unknown toy domain 'code' (did you mean \"codes\"?)" in capsys.readouterr().err
    config.write_text("name: x\nowners: {codes: {data: 'toy:codes'}}\nexpert: {batch_size: 2, workers: 4}\n")
    assert main(["flexolmo", "train", str(config)]) == 2
    assert "4 workers cannot split a batch of 2" in capsys.readouterr().err
