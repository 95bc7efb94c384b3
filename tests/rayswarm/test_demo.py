"""`rayswarm demo` on the quick zoo: each model alone against the three-expert chain, same questions."""

import json

from rayswarm.cli import main
from rayswarm.commands.demo import DEMO_CHAIN


def test_demo_compares_the_chain_with_each_model_alone(quick_zoo, tmp_path, capsys):
    assert main(["demo", "--preset", "quick", "--run-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    chain = " -> ".join(DEMO_CHAIN)
    assert chain in printed and all(f"{m} alone" in printed for m in ("base", *DEMO_CHAIN))
    (run_dir,) = tmp_path.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    systems = summary["systems"]
    assert set(systems) == {chain, *(f"{m} alone" for m in ("base", *DEMO_CHAIN))}
    # Composed questions need two experts' tables: only the graph can answer them.
    singles = [scores for name, scores in systems.items() if name != chain]
    assert systems[chain]["capital_of_code"] > max(s["capital_of_code"] for s in singles)
