# The course's commands. `make lab` to study, `make test` to validate everything.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PINS   := $(shell cksum < pyproject.toml | cut -d' ' -f1)
# One stamp per set of extras, named after pyproject.toml's checksum: set-up reruns only when it changes.
STAMP       := $(VENV)/.installed-dev-$(PINS)
TEACH_STAMP := $(VENV)/.installed-teach-$(PINS)
JOBS   ?= $(shell nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2)
# The canonical environment the committed outputs are recorded in (also pinned by conftest.py).
CANONICAL := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 COURSE_DEVICE=cpu CUDA_VISIBLE_DEVICES= PYTHONHASHSEED=0

.PHONY: setup lab test notebooks bench lint graphviz teach-setup assignments clean

setup: $(STAMP) graphviz

$(STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@rm -f $(VENV)/.installed-dev-* && touch $@

# Teachers and the test suite also need nbgrader (the "teach" extra); students do not.
$(TEACH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,teach]"
	@rm -f $(VENV)/.installed-teach-* && touch $@

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

test: $(TEACH_STAMP) graphviz
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile

notebooks: setup
	$(CANONICAL) $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.timeout=120 --ExecutePreprocessor.kernel_name=python3 --ExecutePreprocessor.record_timing=False $(or $(NB),notebooks/[0-9]*.ipynb)

bench: setup
	$(CANONICAL) $(BIN)/python -m benchmarks.notebook_times
	$(CANONICAL) $(BIN)/python -m benchmarks.fit_overhead

lint: $(STAMP)
	$(BIN)/ruff check course tests tools benchmarks notebooks
	$(BIN)/ruff format --check course tests tools benchmarks notebooks

clean:
	rm -rf $(VENV) .pytest_cache

# Teaching (nbgrader) ----------------------------------------------------------------------------
# The classroom workflow of TEACHING.md, run in the nbgrader course folder assignments/.
# Student code runs UNSANDBOXED while grading: run `make autograde` as a separate user, in a
# container or in a VM (TEACHING.md, "Grading safely").
#   make teach-setup                 install nbgrader (the "teach" extra)
#   make assignments [A=01_tensors]  student versions in assignments/release/ (FORCE=--force to redo)
#   make collect A=01_tensors        LMS downloads in assignments/downloaded/A/archive/ -> submitted/
#   make autograde [A=...] [TIMEOUT=60]   grade assignments/submitted/<student>/<A>/
#   make feedback [A=...]            HTML reports in assignments/feedback/<student>/<A>/
#   make grades                      assignments/grades.csv
#   make teach-test                  the round trip test (solution, blank, wrong submissions)
COURSE_DIR := assignments
A          ?= *
TIMEOUT    ?=
FORCE      ?=
# nbgrader shells out to alembic and starts kernels with `python`: the venv's bin/ goes first on PATH.
NBGRADER   := cd $(COURSE_DIR) && $(CANONICAL) PATH="$(abspath $(BIN)):$$PATH" $(abspath $(BIN))/nbgrader

.PHONY: teach-setup assignments collect autograde feedback grades teach-test

teach-setup: $(TEACH_STAMP)
	@$(BIN)/nbgrader --version | tail -1

assignments: teach-setup
	$(NBGRADER) generate_assignment "$(A)" $(FORCE)
	@echo "Student versions: $(COURSE_DIR)/release/<assignment>/ (hand these out)."

collect: teach-setup
	@test "$(A)" != "*" || { echo "Name one assignment: make collect A=01_tensors"; exit 1; }
	$(NBGRADER) zip_collect "$(A)"

autograde: teach-setup
	$(NBGRADER) autograde "$(A)" $(if $(TIMEOUT),--Execute.timeout=$(TIMEOUT))

feedback: teach-setup
	$(NBGRADER) generate_feedback "$(A)"

grades: teach-setup
	$(NBGRADER) export --to grades.csv
	@echo "Grades: $(COURSE_DIR)/grades.csv"

teach-test: teach-setup
	$(BIN)/python -m pytest -q tests/grading/test_assignments.py
