# The course's commands. `make lab` to study, `make test` to validate everything.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
JOBS   ?= $(shell nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2)
# The canonical environment the committed outputs are recorded in (also pinned by conftest.py).
CANONICAL := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 COURSE_DEVICE=cpu CUDA_VISIBLE_DEVICES= PYTHONHASHSEED=0

.PHONY: setup lab test notebooks bench lint graphviz teach-setup assignments clean

setup: $(STAMP) graphviz

$(STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@rm -f $(VENV)/.installed-* && touch $@

graphviz:
	@command -v dot >/dev/null 2>&1 && exit 0; \
	if [ -f /etc/debian_version ] && [ "$$(id -u)" = 0 ]; then \
		echo "Installing Graphviz (apt-get install graphviz)..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; \
	else \
		echo "Graphviz's 'dot' program is missing. Install it with:"; \
		if [ -n "$$CONDA_PREFIX" ]; then echo "  conda install -c conda-forge graphviz"; \
		elif [ "$$(uname)" = Darwin ]; then echo "  brew install graphviz"; \
		elif [ -f /etc/debian_version ]; then echo "  sudo apt-get install graphviz"; \
		elif command -v dnf >/dev/null 2>&1; then echo "  sudo dnf install graphviz"; \
		else echo "  your system's package manager (package 'graphviz'), or conda install -c conda-forge graphviz"; fi; \
		echo "then run this command again."; exit 1; \
	fi

lab: setup
	$(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

test: setup
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile

notebooks: setup
	$(CANONICAL) $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.timeout=120 --ExecutePreprocessor.kernel_name=python3 $(or $(NB),notebooks/[0-9]*.ipynb)

bench: setup
	$(CANONICAL) $(BIN)/python benchmarks/notebook_times.py

lint: setup
	$(BIN)/ruff check course tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache
