"""`rayswarm train parapo|pic <config.yaml>`: preference tuning as a Ray Train job (TRL's DPO, LoRA)."""

from __future__ import annotations

import argparse

RECIPES = {  # recipe: (one-line help, description)
    "parapo": ("make a model regurgitate less (paraphrase preference optimisation)",
               "ParaPO: mine what the model regurgitates from a corpus, paraphrase it with any agent or an "
               "OpenAI-compatible endpoint (a served graph), and DPO towards the paraphrase (prompt-less, or the "
               "'Copying: No/Yes' system-prompt variant). Reports char/word/token LCS and ROUGE-L on the mined "
               "windows (the system variant: also under each flag) and held-out perplexity, before and after. "
               "See docs/parapo.md and examples/parapo.yaml."),
    "pic": ("make a model stick to the claims it is given (precise information control)",
            "PIC: build weakly supervised pairs from claim-grounded items (drop claims, regenerate, rank by a "
            "reference model's log-prob) and train with length-normalised DPO. Reports PIC precision, Recall@K, "
            "F1@K and the perfect-precision/F1 rates, before and after. See docs/pic.md and examples/pic.yaml."),
}


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="preference-tune a model with ParaPO or PIC (DPO on Ray Train, LoRA adapters)",
        description="Validate a train config (every data file line by line), build the preference pairs, "
        "measure the model, train a LoRA adapter with TRL's DPOTrainer inside a Ray Train TorchTrainer "
        "(embedded local Ray unless --address or RAY_ADDRESS names a cluster), and measure again. Writes a run "
        "directory: config.yaml, pairs.jsonl, train/ (checkpoints), adapter/ (PEFT), log.jsonl, summary.json.",
    )
    recipes = parser.add_subparsers(dest="recipe", metavar="<recipe>", required=True)
    for recipe, (summary, description) in RECIPES.items():
        sub = recipes.add_parser(recipe, help=summary, description=description)
        sub.add_argument("config", nargs="?", help=f"{recipe} config YAML (omit with --resume)")
        sub.add_argument("--resume", metavar="RUN_DIR",
                         help="continue an interrupted run: its pairs, and DPO from its last checkpoint")
        sub.add_argument("--run-dir", default="runs", help="where run directories go (default: runs/)")
        sub.add_argument("--address", help="Ray cluster to join (default: RAY_ADDRESS, else an embedded local Ray)")
        sub.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from rayswarm.graphs.errors import ConfigError
    from rayswarm.preference import execute_parapo, execute_pic
    from rayswarm.train_config import load_train_config

    if (args.config is None) == (args.resume is None):
        raise ConfigError(f"train {args.recipe}: give a config file or --resume RUN_DIR (one of them)")
    config = load_train_config(args.config or Path(args.resume) / "config.yaml", args.recipe)
    execute = execute_parapo if args.recipe == "parapo" else execute_pic
    summary, run_dir = execute(config, args.run_dir, args.address, resume=args.resume)
    print(json.dumps({key: summary[key] for key in ("before", "after", "dpo", "utility") if key in summary},
                     indent=2))
    print(f"run directory: {run_dir.path}")
    return 0
