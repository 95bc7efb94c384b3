"""`rayswarm flexolmo public|train|merge|eval|generate`: FlexOlmo on Ray (docs/flexolmo.md)."""

from __future__ import annotations

import argparse
import json

EPILOG = """workflow (each step reuses what the previous wrote under the config's work folder):
  rayswarm flexolmo train examples/flexolmo.yaml               # public model, then one Ray Train job per owner
  rayswarm flexolmo train examples/flexolmo.yaml --owner codes # one owner's job alone (any order, any time)
  rayswarm flexolmo merge examples/flexolmo.yaml               # one FlexOlmo checkpoint (plain transformers)
  rayswarm flexolmo eval examples/flexolmo.yaml                # the comparison table -> summary.json
  rayswarm flexolmo generate runs/flexolmo/merged --exclude twins "What is the code of Bokia?"
see docs/flexolmo.md"""


def names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "flexolmo", help="FlexOlmo: experts trained independently on Ray Train, merged, opt-in/opt-out",
        description="FlexOlmo (algorithms.md §4): a dense public Olmo2 model, one expert per data owner trained "
        "as its own Ray Train job against the frozen public anchor, a merge into one FlexOlmo checkpoint that "
        "plain transformers loads, and experts chosen or excluded by name at inference.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="flexolmo_verb", metavar="<action>", required=True)

    public = verbs.add_parser("public", help="train (toy) or check the public model and its router row",
                              description="Build the public side once: the toy corpora, the tiny dense Olmo2 "
                              "public model (public.model: toy) and the public router row.")
    train = verbs.add_parser("train", help="train owners' experts, one Ray Train job each (resumable)",
                             description="One TorchTrainer job per owner, each reading only its owner's data; "
                             "an interrupted job resumes from its last checkpoint when run again.")
    train.add_argument("--owner", action="append", help="train only this owner (repeatable; default all)")
    train.add_argument("--force", action="store_true", help="retrain experts that are already trained")
    train.add_argument("--address", help="Ray cluster to join (default: RAY_ADDRESS, else an embedded Ray)")
    merge = verbs.add_parser("merge", help="merge the public model and trained experts into one checkpoint",
                             description="Check every expert was trained from this public model (shared weights "
                             "bit-identical), then stitch them into one flex_olmo checkpoint (work folder/merged); "
                             "router tuning on proxy data when router.tune_steps > 0.")
    merge.add_argument("--owners", type=names, help="comma-separated owners to merge (default all)")
    evaluate = verbs.add_parser("eval", help="score every model variant per domain; writes summary.json",
                                description="Public model, each expert, merged, merged with each owner opted "
                                "out, and the weight-averaging baseline, on each owner's test task.")
    evaluate.add_argument("--limit", type=int, help="score only the first N test examples per domain")
    evaluate.add_argument("--joint", action="store_true",
                          help="also train (once, cached in the work folder) and score an MoE trained jointly "
                               "on every owner's data at equal FLOPs: the unrestricted baseline")
    for sub in (public, train, merge, evaluate):
        sub.add_argument("config", help="FlexOlmo config YAML (examples/flexolmo.yaml)")
    generate = verbs.add_parser("generate", help="answer prompts with a merged checkpoint and an expert mask",
                                description="Greedy answers from a merged checkpoint using only the chosen "
                                "experts: excluded experts have exactly zero influence.")
    generate.add_argument("checkpoint", help="a merged FlexOlmo folder (work folder/merged)")
    generate.add_argument("prompts", nargs="+", help="one or more prompts")
    generate.add_argument("--experts", type=names, help="comma-separated experts to use (default all)")
    generate.add_argument("--exclude", type=names, help="comma-separated experts to opt out")
    generate.add_argument("--max-new-tokens", type=int, default=32)
    for sub, handler in ((public, handle_public), (train, handle_train), (merge, handle_merge),
                         (evaluate, handle_eval), (generate, handle_generate)):
        sub.set_defaults(handler=handler)


# ---------------------------------------------------------------------------------------------
# public


def build_public(cfg) -> None:
    """The toy corpora, the public model and the public router row, each only when missing."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rayswarm.agents.flexolmo_data import read_corpus, sample_documents
    from rayswarm.agents.router_init import domain_row
    from rayswarm.graphs.errors import SourceError

    write_toy_corpora(cfg)
    if cfg.public.model == "toy":
        if not (cfg.public_dir / "model.safetensors").is_file():
            train_toy_public(cfg)
    elif not (cfg.public_dir / "config.json").is_file():
        raise SourceError(f"public model {cfg.public_dir}: not a model folder (no config.json)")
    if not cfg.public_row.is_file():
        model = AutoModelForCausalLM.from_pretrained(cfg.public_dir).eval()
        documents = sample_documents(read_corpus(cfg.data_path("public")), cfg.router.samples, cfg.seed)
        row = domain_row(documents, cfg.router.embedder, model.config.hidden_size, model,
                         AutoTokenizer.from_pretrained(cfg.public_dir))
        torch.save(row, cfg.public_row)
        print(f"public router row ({cfg.router.embedder}): {cfg.public_row}")


def write_toy_corpora(cfg) -> None:
    from rayswarm.agents.flexolmo_data import toy_corpus, write_corpus
    from rayswarm.agents.zoo import get_preset

    world = get_preset(cfg.world).world
    wanted = {owner: spec.data for owner, spec in cfg.owners.items()}
    if cfg.public.model == "toy" or (cfg.public.corpus or "").startswith("toy:"):
        wanted["public"] = "toy:public"
    for owner, data in wanted.items():
        path = cfg.data_path(owner)
        if data.startswith("toy:") and not path.is_file():
            steps, batch = ((cfg.public.steps, cfg.public.batch_size) if owner == "public"
                            else (cfg.expert.steps, cfg.expert.batch_size))
            write_corpus(path, toy_corpus(world, data[4:], cfg.items or steps * batch, cfg.seed))


def train_toy_public(cfg) -> None:
    import time

    from rayswarm.agents.flexolmo_data import read_corpus
    from rayswarm.agents.flexolmo_loop import train_public
    from rayswarm.agents.tiny import save_tiny
    from rayswarm.agents.toytrain import TrainConfig
    from rayswarm.agents.zoo import get_preset

    p = cfg.public
    start = time.perf_counter()
    print(f"training the toy public model ({p.steps} steps)", flush=True)
    config = TrainConfig(steps=p.steps, batch_size=p.batch_size, lr=p.lr, warmup=p.warmup, seed=cfg.seed)
    model, losses = train_public(read_corpus(cfg.data_path("public")), config, **get_preset(cfg.world).shape)
    tmp = cfg.public_dir.with_name(".tmp-public")
    save_tiny(model, tmp)
    (tmp / "train.json").write_text(json.dumps({"steps": p.steps, "final_loss": sum(losses[-20:]) / 20,
                                                "seconds": round(time.perf_counter() - start, 1)}))
    tmp.replace(cfg.public_dir)


def handle_public(args: argparse.Namespace) -> int:
    from rayswarm.flexolmo_config import load_flexolmo

    build_public(load_flexolmo(args.config))
    return 0


# ---------------------------------------------------------------------------------------------
# train


def trained(job) -> bool:
    from pathlib import Path

    from rayswarm.agents.flexolmo_model import META_FILE

    meta = Path(job.output) / META_FILE
    return meta.is_file() and json.loads(meta.read_text()).get("steps") == job.steps


def handle_train(args: argparse.Namespace) -> int:
    from rayswarm.clusters.connect import connect
    from rayswarm.clusters.flexolmo_train import run_expert_job
    from rayswarm.flexolmo_config import load_flexolmo

    cfg = load_flexolmo(args.config)
    owners = cfg.owners_named(args.owner)
    for owner in owners:  # a missing data path fails before anything trains, the public model included
        if not cfg.owners[owner].data.startswith("toy:"):
            _check_data(cfg, owner)
    build_public(cfg)
    jobs = [cfg.job(owner) for owner in owners]
    for job in jobs:
        job.check()
    connect(args.address)
    for job in jobs:
        if trained(job) and not args.force:
            print(f"{job.owner}: already trained ({job.output})")
            continue
        result = run_expert_job(job)
        print(f"{job.owner}: step {result.metrics['step']}/{job.steps}, loss {result.metrics['loss']:.3f}"
              + (f" -> {job.output}" if trained(job) else " (stopped early: run again to resume)"), flush=True)
    return 0


def _check_data(cfg, owner: str) -> None:
    from rayswarm.graphs.errors import DataError

    if not cfg.data_path(owner).is_file():
        raise DataError(f"owner '{owner}': no data at {cfg.data_path(owner)}")


# ---------------------------------------------------------------------------------------------
# merge


def check_experts(cfg, owners: list[str]) -> None:
    """From metadata alone, before any weights load: every expert trained, from this public model."""
    from rayswarm.agents.flexolmo_model import public_id, read_meta
    from rayswarm.graphs.errors import DataError, SourceError

    expected = public_id(cfg.public_dir)
    for owner in owners:
        folder = cfg.expert_dir(owner)
        if not folder.is_dir():
            raise SourceError(f"expert '{owner}' is not trained yet ({folder}): run `rayswarm flexolmo train`")
        if read_meta(folder).get("public_id") != expected:
            raise DataError(f"expert '{owner}' was trained from a different public model than {cfg.public_dir}")


def load_parts(cfg, owners: list[str]):
    """(public model, tokenizer, {owner: expert model}) in float32, eval mode."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    def load(folder):
        return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()

    return (load(cfg.public_dir), AutoTokenizer.from_pretrained(cfg.public_dir),
            {owner: load(cfg.expert_dir(owner)) for owner in owners})


def handle_merge(args: argparse.Namespace) -> int:
    import torch

    from rayswarm.agents import flexolmo_model as fm
    from rayswarm.flexolmo_config import load_flexolmo

    cfg = load_flexolmo(args.config)
    owners = cfg.owners_named(args.owners)
    check_experts(cfg, owners)
    torch.set_num_threads(1)
    public, tokenizer, experts = load_parts(cfg, owners)
    model, expert_names = fm.merge(public, experts, cfg.top_k)
    tuned = tune_router(cfg, model, tokenizer, owners) if cfg.router.tune_steps else None
    fm.save(model, cfg.merged_dir, expert_names, tokenizer=tokenizer, public_id=fm.public_id(cfg.public_dir),
            top_k=model.config.num_experts_per_tok, router_tuning=tuned)
    print(f"merged {', '.join(expert_names)} (top-{model.config.num_experts_per_tok}) -> {cfg.merged_dir}")
    return 0


def tune_router(cfg, model, tokenizer, owners: list[str]) -> dict:
    """Router tuning ("-RT") on proxy data: a small sample of each owner's corpus and of the public one."""
    import random

    from rayswarm.agents.flexolmo_data import read_corpus
    from rayswarm.agents.flexolmo_loop import tune_router as tune
    from rayswarm.agents.toytrain import TrainConfig

    rng = random.Random(f"rayswarm-flexolmo-proxy-{cfg.seed}")
    proxy = []
    for owner in ("public", *owners):
        items = read_corpus(cfg.data_path(owner))
        proxy += rng.sample(items, min(cfg.router.proxy_items, len(items)))
    config = TrainConfig(steps=cfg.router.tune_steps, batch_size=cfg.expert.batch_size, lr=cfg.router.tune_lr,
                         warmup=min(10, cfg.router.tune_steps), seed=cfg.seed)
    losses = tune(model, tokenizer, proxy, config)
    print(f"router tuned: {len(losses)} steps on {len(proxy)} proxy items, loss {losses[-1]:.3f}")
    return {"steps": len(losses), "proxy_items": len(proxy), "final_loss": losses[-1]}


# ---------------------------------------------------------------------------------------------
# eval


def handle_eval(args: argparse.Namespace) -> int:
    import torch

    from rayswarm.agents.flexolmo_eval import format_table, score_table, variants
    from rayswarm.agents.flexolmo_model import load
    from rayswarm.agents.tasksource import load_task_source
    from rayswarm.flexolmo_config import load_flexolmo
    from rayswarm.graphs.errors import ConfigError, SourceError
    from rayswarm.graphs.rundir import RunDir

    cfg = load_flexolmo(args.config)
    limit = args.limit or cfg.eval.limit
    tasks = {}
    for owner in cfg.owners:
        name = cfg.eval_task(owner)
        if name is None:
            raise ConfigError(f"owners.{owner}.eval: needed to score an owner whose data is not toy")
        tasks[owner] = load_task_source(name, split="test", limit=limit).examples
    if not cfg.merged_dir.is_dir():
        raise SourceError(f"no merged model at {cfg.merged_dir}: run `rayswarm flexolmo merge` first")
    merged, meta = load(cfg.merged_dir)
    owners = meta["experts"][1:]
    check_experts(cfg, owners)
    torch.set_num_threads(1)
    public, tokenizer, experts = load_parts(cfg, owners)
    run_dir = RunDir(cfg.root, "eval")
    run_dir.write_config(cfg.model_dump())

    def progress(variant, row):
        run_dir.log(variant=variant, **row)
        print(f"  {variant}: mean {100 * row['mean']:.1f}%", flush=True)

    joint = joint_moe(cfg, public, tokenizer, owners) if args.joint else None
    table = score_table(variants(public, experts, merged, meta["experts"], joint), tokenizer, tasks, progress)
    run_dir.write_summary({"experts": meta["experts"], "top_k": merged.config.num_experts_per_tok,
                           "router_tuning": meta.get("router_tuning"),
                           "examples": {owner: len(examples) for owner, examples in tasks.items()},
                           "table": table})
    print(format_table(table))
    print(f"run directory: {run_dir.path}")
    return 0


def joint_moe(cfg, public, tokenizer, owners: list[str]):
    """The MoE trained jointly on everybody's data at equal FLOPs (the paper's unrestricted baseline).

    Same shape and step-0 router rows as the merged model (public + one expert per owner, top-k of
    the config), trained on the owners' data pooled, for as many steps of the same batch size as all
    expert jobs together: each job runs its 2-expert model at top-k 2, so at the default top-k 2 the
    active FLOPs per token, and so the total, are equal. Every expert and router row trains; shared
    weights stay the public model's, as in the expert jobs. Cached in <work folder>/joint.
    """
    import torch

    from rayswarm.agents import flexolmo_model as fm
    from rayswarm.agents.flexolmo_data import read_corpus
    from rayswarm.agents.flexolmo_loop import StepTrainer, joint_params, train_steps
    from rayswarm.agents.toytrain import TrainConfig
    from rayswarm.clusters.flexolmo_train import owner_row

    folder, names = cfg.root / "joint", [fm.PUBLIC, *owners]
    if (folder / fm.META_FILE).is_file() and fm.read_meta(folder)["experts"] == names:
        return fm.load(folder)[0]
    jobs = {owner: cfg.job(owner) for owner in owners}
    data = {owner: read_corpus(job.data) for owner, job in jobs.items()}
    rows = [torch.load(cfg.public_row)] + [owner_row(jobs[o], public, tokenizer, data[o]) for o in owners]
    model = fm.upcycle(public, torch.stack(rows), top_k=cfg.top_k)
    e = cfg.expert
    config = TrainConfig(steps=len(owners) * e.steps, batch_size=e.batch_size, lr=e.lr, warmup=e.warmup,
                         seed=cfg.seed)
    print(f"training the joint MoE: {config.steps} steps on {len(owners)} owners' data", flush=True)
    pooled = [item for owner in owners for item in data[owner]]
    losses = train_steps(StepTrainer(model, tokenizer, pooled, config, joint_params(model)))
    fm.save(model, folder, names, tokenizer=tokenizer, joint_steps=config.steps, final_loss=losses[-1])
    return model.eval()


# ---------------------------------------------------------------------------------------------
# generate


def handle_generate(args: argparse.Namespace) -> int:
    import torch

    from rayswarm.agents.agent import Agent
    from rayswarm.agents.flexolmo_model import read_meta, resolve_mask

    resolve_mask(read_meta(args.checkpoint)["experts"], args.experts, args.exclude)  # before loading
    torch.set_num_threads(1)
    agent = Agent.load(str(args.checkpoint))
    answers = agent.generate(args.prompts, experts=args.experts, exclude_experts=args.exclude,
                             max_new_tokens=args.max_new_tokens)
    for prompt, text in zip(args.prompts, answers, strict=True):
        print(f"{prompt}\n  -> {text}")
    return 0
