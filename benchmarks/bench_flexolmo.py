"""FlexOlmo costs: MoE inference with k active experts against the dense public model, and Ray Train's
overhead on an owner's expert job against a plain torch loop running the same steps.

    OMP_NUM_THREADS=1 RAY_AUTH_MODE=disabled .venv/bin/python benchmarks/bench_flexolmo.py [--repeats 5]

Inference: the tiny Olmo2 shape of agents/tiny.py (128 hidden, 4 layers) as the dense model and a
5-expert FlexOlmo built from it (public + 4 perturbed experts), k = 1..5; prefill tokens/s of a batch of
16 × 64 tokens and greedy decode tokens/s (batch 8, 32 new tokens), median of `--repeats`.

Ray Train: the same owner's job (same data, steps, checkpoint cadence, one torch thread) as
`run_expert_job` on an embedded Ray and as the plain loop it wraps (clusters/flexolmo_train.py's
`train_loop` body without Ray), at two step counts, so the fixed cost (worker group start, process
group) and the per-step cost (report + checkpoint persistence) separate.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from rayswarm.agents import flexolmo_model as fm
from rayswarm.agents.tiny import build_tiny_model, save_tiny


def experts_model(public, experts: int, top_k: int):
    generator = torch.Generator().manual_seed(0)
    rows = torch.randn(2, public.config.hidden_size, generator=generator)
    owners = {}
    for i in range(experts - 1):
        expert = fm.upcycle(public, torch.stack([rows[0], torch.randn(public.config.hidden_size, generator=generator)]))
        with torch.no_grad():
            for layer in expert.model.layers:
                layer.mlp.experts.gate_up_proj[1] += 0.05 * torch.randn_like(layer.mlp.experts.gate_up_proj[1])
        owners[f"owner{i}"] = expert
    return fm.merge(public, owners, top_k)[0]


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_inference(repeats: int) -> None:
    public = build_tiny_model("olmo2", seed=0).eval()
    ids = torch.randint(4, 100, (16, 64), generator=torch.Generator().manual_seed(0))
    prompt = ids[:8, :16]
    models = {"dense public": public, **{f"FlexOlmo 5 experts, k={k}": experts_model(public, 5, k) for k in range(1, 6)}}
    print("| model | prefill tokens/s | decode tokens/s |\n|---|---|---|")
    for name, model in models.items():
        with torch.no_grad():
            prefill = timed(lambda m=model: m(ids), repeats)
            decode = timed(lambda m=model: m.generate(prompt, max_new_tokens=32, min_new_tokens=32, do_sample=False,
                                                     pad_token_id=0), repeats)
        print(f"| {name} | {ids.numel() / prefill:,.0f} | {prompt.shape[0] * 32 / decode:,.0f} |", flush=True)


def plain_loop(job) -> None:
    """The worker's loop without Ray: build, train, save a checkpoint folder at the same cadence."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rayswarm.agents.flexolmo_data import read_corpus
    from rayswarm.agents.flexolmo_loop import StepTrainer, expert_params
    from rayswarm.clusters.flexolmo_train import TRAIN_STATE, build_expert, train_config

    tokenizer = AutoTokenizer.from_pretrained(job.public)
    items = read_corpus(job.data)
    model = build_expert(job, AutoModelForCausalLM.from_pretrained(job.public), tokenizer, items)
    trainer = StepTrainer(model, tokenizer, items, train_config(job), expert_params(model))
    while not trainer.done:
        trainer.train_step()
        if trainer.step % job.checkpoint_every == 0 or trainer.done:
            with tempfile.TemporaryDirectory() as folder:
                model.save_pretrained(folder)
                torch.save(trainer.state(), Path(folder) / TRAIN_STATE)


def bench_ray_train(step_counts: list[int]) -> None:
    from rayswarm.agents.flexolmo_data import toy_corpus, write_corpus
    from rayswarm.agents.router_init import domain_row
    from rayswarm.agents.tokenizer import build_char_tokenizer
    from rayswarm.agents.zoo import get_preset
    from rayswarm.clusters.connect import connect
    from rayswarm.clusters.flexolmo_train import ExpertJob, run_expert_job

    work = Path(tempfile.mkdtemp(prefix="bench-flexolmo-"))
    preset = get_preset("quick")
    public = build_tiny_model("olmo2", seed=0, **preset.shape).eval()
    save_tiny(public, work / "public")
    corpus = toy_corpus(preset.world, "codes", 4000)
    write_corpus(work / "codes.jsonl", corpus)
    row = domain_row([item.target for item in corpus[:50]], "public", public.config.hidden_size, public,
                     build_char_tokenizer())
    torch.save(row, work / "row.pt")
    connect(num_cpus=2)

    def job_of(steps: int, name: str) -> ExpertJob:
        return ExpertJob(owner="codes", data=str(work / "codes.jsonl"), public=str(work / "public"),
                         public_row=str(work / "row.pt"), output=str(work / f"out-{name}"),
                         storage=str(work / f"train-{name}"), embedder="public", router_samples=50, steps=steps,
                         batch_size=8, checkpoint_every=50, cpus_per_worker=1)

    # Warm-up: the first job also pays Ray's worker start and imports; time the later ones only.
    run_expert_job(job_of(5, "warmup"))
    print("| steps | plain torch loop | Ray Train job | overhead |\n|---|---|---|---|")
    totals = {}
    for steps in step_counts:
        job = job_of(steps, str(steps))
        start = time.perf_counter()
        plain_loop(job)
        plain = time.perf_counter() - start
        start = time.perf_counter()
        run_expert_job(job)
        ray = time.perf_counter() - start
        totals[steps] = (plain, ray)
        print(f"| {steps} | {plain:.1f} s | {ray:.1f} s | {100 * (ray / plain - 1):+.0f}% |", flush=True)
    low, high = min(step_counts), max(step_counts)
    per_step_plain = (totals[high][0] - totals[low][0]) / (high - low)
    per_step_ray = (totals[high][1] - totals[low][1]) / (high - low)
    fixed = totals[low][1] - totals[low][0] - low * (per_step_ray - per_step_plain)
    print(f"per step: plain {1000 * per_step_plain:.1f} ms, Ray Train {1000 * per_step_ray:.1f} ms "
          f"({100 * (per_step_ray / per_step_plain - 1):+.1f}%); fixed cost of a Ray Train job ≈ {fixed:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 400])
    parser.add_argument("--skip-train", action="store_true", help="inference only")
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
    bench_inference(args.repeats)
    if not args.skip_train:
        bench_ray_train(sorted(args.steps))


if __name__ == "__main__":
    main()
