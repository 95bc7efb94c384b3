import subprocess
import sys

MODULES = ["rayswarm.graphs"] + [f"rayswarm.graphs.{name}" for name in
                                 ("graph", "execute", "gdecode", "patterns", "messages", "fanin", "tasks")]


def test_graphs_imports_neither_torch_nor_transformers_nor_ray():
    code = (f"import importlib, sys\nfor m in {MODULES!r}: importlib.import_module(m)\n"
            "print(sorted(m for m in ('torch', 'transformers', 'ray') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
