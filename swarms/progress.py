"""What a user watches while a swarm runs: a progress bar per iteration, then a convergence plot."""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm


class SwarmProgress:
    """One tick per evaluation of the swarm, showing the best-ever and this round's mean utility."""

    def __init__(self, max_iterations: int, swarm, label: str):
        # +1: the initial evaluation of the starting particles is a round of its own
        done = swarm.iteration + 1 if swarm.g_history else 0
        self.bar = tqdm(total=max_iterations + 1, initial=done, desc=label, unit="round", dynamic_ncols=True)
        self.swarm = swarm

    def update(self, scores: list[float], best: float | None = None) -> None:
        """One round done: `scores` are its utilities; `best` the best so far (default: the swarm's)."""
        best = self.swarm.g_score if best is None else best
        self.bar.set_postfix(best=f"{best:.3f}", mean=f"{sum(scores) / len(scores):.3f}")
        self.bar.update(1)

    def __enter__(self) -> SwarmProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()


def plot_convergence(rounds: list[dict], path: str | Path, title: str,
                     curves: dict[str, list[float]] | None = None) -> Path:
    """Best-ever and mean utility per round (rows with `best` and `mean`), plus any `curves` (label →
    one value per round), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a cluster node
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.5))
    x = range(len(rounds))
    axes.plot(x, [r["best"] for r in rounds], label="global best", marker="o", markersize=3)
    axes.plot(x, [r["mean"] for r in rounds], label="swarm mean", linestyle="--")
    for label, values in (curves or {}).items():
        axes.plot(x, values, label=label, linestyle=":")
    axes.set(xlabel="round (0 = starting particles)", ylabel="dev utility", title=title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return Path(path)
