# The course's commands. `make lab` to study, `make test` to validate everything.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# TORCH=cpu installs the CPU-only build of the same pinned torch from PyTorch's CPU wheel index
# (Linux: a few hundred MB instead of the default build's several GB of CUDA libraries). Never automatic.
TORCH  ?=
TORCH_VERSION   := $(shell sed -n 's/.*"torch==\([^"]*\)".*/\1/p' pyproject.toml)
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
PINS   := $(shell cksum < pyproject.toml | cut -d' ' -f1)
# One stamp per set of extras, named after pyproject.toml's checksum: set-up reruns only when it changes.
STAMP       := $(VENV)/.installed-dev-$(PINS)$(if $(filter cpu,$(TORCH)),-cpu)
TEACH_STAMP := $(VENV)/.installed-teach-$(PINS)
JOBS   ?= $(shell nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2)
# The canonical environment the committed outputs are recorded in (also pinned by conftest.py).
# On x86-64 also the same math kernels on every CPU (conftest.py says why); ARM has no such settings.
X86_KERNELS := $(if $(filter x86_64 amd64 AMD64,$(shell uname -m 2>/dev/null)),ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=COMPATIBLE ONEDNN_MAX_CPU_ISA=AVX2)
CANONICAL := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 COURSE_DEVICE=cpu CUDA_VISIBLE_DEVICES= PYTHONHASHSEED=0 $(X86_KERNELS)
# Quiet installs: no pip upgrade notices, no setuptools box about editable installs.
PIP    := PYTHONWARNINGS=ignore $(BIN)/python -m pip --quiet --disable-pip-version-check
# Students' JupyterLab hides the grading tools that `make test` installs (see `student-jupyter`).
STUDENT_JUPYTER := $(VENV)/etc/course-student
NEEDS_311 := import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)
CUDA_BUILD := import sys, torch; sys.exit(0 if torch.version.cuda else 1)
# A .venv whose Python no longer runs, or is older than 3.11, loses its set-up stamps before make reads them, so
# every target that needs the set-up (doctor, lint, ...) rebuilds it after python-version has removed it.
$(shell { [ -e $(BIN)/python ] || [ -L $(BIN)/python ]; } && ! $(BIN)/python -c '$(NEEDS_311)' 2>/dev/null && rm -f $(VENV)/.installed-*)

.PHONY: setup lab test notebooks bench portability lint doctor graphviz graphviz-warn python-version student-jupyter teach-setup assignments clean

setup: python-version graphviz $(STAMP)

# The pins need Python 3.11 or newer: say so before anything is installed, and rebuild a .venv
# that an older Python left behind.
python-version:
	@$(PYTHON) -c '$(NEEDS_311)' 2>/dev/null || { \
		echo "The course needs Python 3.11 or newer; '$(PYTHON)' is $$($(PYTHON) --version 2>/dev/null || echo 'not found')."; \
		echo "Install Python 3.11+ and name it, for example:  make lab PYTHON=python3.11"; exit 1; }
	@if [ -e $(BIN)/python -o -L $(BIN)/python ] && ! $(BIN)/python -c '$(NEEDS_311)' 2>/dev/null; then \
		echo "Rebuilding $(VENV): it was made by $$($(BIN)/python --version 2>/dev/null || echo 'a Python that no longer runs')."; \
		rm -rf $(VENV); fi
	@case "$(TORCH)" in ""|cpu) ;; *) echo "TORCH must be empty (your platform's default build) or cpu, got '$(TORCH)'."; exit 1;; esac

$(STAMP): | python-version
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(if $(filter cpu,$(TORCH)),@if $(BIN)/python -c '$(CUDA_BUILD)' 2>/dev/null; then \
		echo "TORCH=cpu: replacing the installed CUDA build of torch with the CPU-only build."; \
		$(PIP) install --force-reinstall --no-deps "torch==$(TORCH_VERSION)" --index-url $(TORCH_CPU_INDEX); fi)
	$(if $(filter cpu,$(TORCH)),$(PIP) install "torch==$(TORCH_VERSION)" --index-url $(TORCH_CPU_INDEX))
	$(PIP) install -e ".[dev]"
	@rm -f $(VENV)/.installed-dev-* && touch $@

# Teachers and the test suite also need nbgrader (the "teach" extra); students do not.
$(TEACH_STAMP): $(STAMP)
	$(PIP) install -e ".[dev,teach]"
	@rm -f $(VENV)/.installed-teach-* && touch $@

# Graphviz's `dot` draws lesson 04's graphs. `make test` needs it; `make lab` warns and goes on.
graphviz:
	@command -v dot >/dev/null 2>&1 && exit 0; \
	if [ -f /etc/debian_version ] && [ "$$(id -u)" = 0 ]; then \
		echo "Installing Graphviz (apt-get install graphviz)..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; \
	else $(MAKE) --no-print-directory graphviz-hint; exit 1; fi

graphviz-warn:
	@command -v dot >/dev/null 2>&1 || [ "$$(id -u)" = 0 -a -f /etc/debian_version ] || { \
		echo "WARNING: Graphviz's 'dot' is missing: lesson 04 will show its graphs as text only."; \
		$(MAKE) --no-print-directory graphviz-hint; }
	@if [ "$$(id -u)" = 0 ] && [ -f /etc/debian_version ]; then $(MAKE) --no-print-directory graphviz \
		|| echo "WARNING: installing Graphviz failed: lesson 04 will show its graphs as text only."; fi

graphviz-hint:
	@echo "Install Graphviz with:"; \
	if [ -n "$$CONDA_PREFIX" ]; then echo "  conda install -c conda-forge graphviz"; \
	elif [ "$$(uname)" = Darwin ]; then echo "  brew install graphviz"; \
	elif [ -f /etc/debian_version ]; then echo "  sudo apt-get install graphviz"; \
	elif command -v dnf >/dev/null 2>&1; then echo "  sudo dnf install graphviz"; \
	else echo "  your system's package manager (package 'graphviz'), or conda install -c conda-forge graphviz"; fi

# A JupyterLab configuration for learners: nbgrader's menus, sidebars and server pages are turned off.
student-jupyter: $(STAMP)
	@mkdir -p $(STUDENT_JUPYTER)/labconfig
	@printf '%s\n' '{"disabledExtensions": {"@jupyter/nbgrader": true}}' > $(STUDENT_JUPYTER)/labconfig/page_config.json
	@printf '%s\n' '{"ServerApp": {"jpserver_extensions": {"nbgrader.server_extensions.formgrader": false,' \
		'"nbgrader.server_extensions.validate_assignment": false, "nbgrader.server_extensions.assignment_list": false,' \
		'"nbgrader.server_extensions.course_list": false}}}' > $(STUDENT_JUPYTER)/jupyter_server_config.json

lab: python-version graphviz-warn $(STAMP) student-jupyter
	JUPYTER_CONFIG_PATH="$(abspath $(STUDENT_JUPYTER))" $(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# The grading tests run in bubblewrap's sandbox: installed here as root on Debian, else they are skipped.
test: setup $(TEACH_STAMP)
	-@$(MAKE) --no-print-directory sandbox
	$(BIN)/python -m pytest -n $(JOBS)

doctor: $(STAMP)
	@$(BIN)/python -m course doctor

# The kernel talks to nbconvert over local sockets in a private folder (IPC), not over TCP.
notebooks: setup
	@sockets=$$(mktemp -d) && trap 'rm -rf "$$sockets"' EXIT && \
	$(CANONICAL) $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--KernelManager.transport=ipc --KernelManager.ip="$$sockets/kernel" \
		--ExecutePreprocessor.timeout=120 --ExecutePreprocessor.kernel_name=python3 --ExecutePreprocessor.record_timing=False $(or $(NB),notebooks/[0-9]*.ipynb)
	$(BIN)/python -m tools.notebooks normalize $(or $(NB),notebooks/[0-9]*.ipynb)

# The committed outputs must not hang on the last bit of a math kernel: run the notebooks with the kernels this
# CPU picks by itself instead of the pinned ones (an AVX-512 machine is the strongest test).
portability: setup
	COURSE_OWN_KERNELS=1 $(BIN)/python -m pytest -n $(JOBS) notebooks

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
# `make autograde` grades each submission in its own bubblewrap sandbox and decides the points outside
# it, on fresh inputs (tools/grading; TEACHING.md, "How grading works"). Without a sandbox it refuses,
# unless you opt in with UNSANDBOXED=1 (students' code then runs with your permissions).
#   make teach-setup                 install nbgrader (the "teach" extra) and bubblewrap (make sandbox)
#   make assignments [A=01_tensors]  student versions in assignments/release/ (FORCE=--force to redo)
#   make collect A=01_tensors        LMS downloads in assignments/downloaded/A/archive/ -> submitted/
#   make autograde [A=...] [STUDENT=...] [TIMEOUT=60] [GRADE_JOBS=4] [SEED=...]   grade submitted/<student>/<A>/
#   make feedback [A=...]            HTML reports in assignments/feedback/<student>/<A>/
#   make grades                      assignments/grades.csv, with a flags column
#   make accept A=... STUDENT=...    give a flagged submission its points, after you reviewed it
#   make sandbox                     install bubblewrap (as root on Debian/Ubuntu) or print the command
#   make teach-test                  the grading tests (hidden checks, attacks, sandboxed round trip)
COURSE_DIR  := assignments
A           ?= *
STUDENT     ?= *
TIMEOUT     ?=
GRADE_JOBS  ?=
SEED        ?=
UNSANDBOXED ?=
FORCE       ?=
# nbgrader shells out to alembic and starts kernels with `python`: the venv's bin/ goes first on PATH.
NBGRADER   := cd $(COURSE_DIR) && $(CANONICAL) PATH="$(abspath $(BIN)):$$PATH" $(abspath $(BIN))/nbgrader
GRADING    := cd $(COURSE_DIR) && $(CANONICAL) PATH="$(abspath $(BIN)):$$PATH" PYTHONPATH="$(CURDIR)" \
	$(abspath $(BIN))/python -m tools.grading

.PHONY: teach-setup sandbox assignments collect autograde feedback grades accept teach-test

teach-setup: $(TEACH_STAMP)
	@$(MAKE) --no-print-directory sandbox || echo "(only make autograde needs the sandbox; the rest works without it)"
	@$(BIN)/nbgrader --version | tail -1

sandbox:
	@command -v bwrap >/dev/null 2>&1 && exit 0; \
	if [ "$$(uname)" != Linux ]; then \
		echo "bubblewrap, the grading sandbox, needs Linux: grade in a Linux VM or container (TEACHING.md)."; exit 1; \
	elif [ -f /etc/debian_version ] && [ "$$(id -u)" = 0 ]; then \
		echo "Installing bubblewrap (apt-get install bubblewrap)..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; \
	else \
		echo "bubblewrap, the sandbox make autograde grades each submission in, is missing. Install it with:"; \
		if [ -f /etc/debian_version ]; then echo "  sudo apt-get install bubblewrap"; \
		elif command -v dnf >/dev/null 2>&1; then echo "  sudo dnf install bubblewrap"; \
		else echo "  your system's package manager (package 'bubblewrap')"; fi; \
		echo "then run this command again."; exit 1; \
	fi

assignments: teach-setup
	$(NBGRADER) generate_assignment "$(A)" $(FORCE)
	@echo "Student versions: $(COURSE_DIR)/release/<assignment>/ (hand these out)."

collect: teach-setup
	@test "$(A)" != "*" || { echo "Name one assignment: make collect A=01_tensors"; exit 1; }
	$(NBGRADER) zip_collect "$(A)"

autograde: teach-setup
	$(GRADING) autograde "$(A)" --student "$(STUDENT)" $(if $(TIMEOUT),--timeout $(TIMEOUT)) \
		$(if $(GRADE_JOBS),--jobs $(GRADE_JOBS)) $(if $(SEED),--seed $(SEED)) \
		$(if $(filter 1 yes true,$(UNSANDBOXED)),--unsandboxed)

feedback: teach-setup
	$(NBGRADER) generate_feedback "$(A)"

grades: teach-setup
	$(GRADING) export --to grades.csv
	@echo "Grades: $(COURSE_DIR)/grades.csv (a non-empty flags column means: review it, see TEACHING.md)"

accept: teach-setup
	@test "$(A)" != "*" -a "$(STUDENT)" != "*" || { echo "Name both: make accept A=01_tensors STUDENT=alice"; exit 1; }
	$(GRADING) accept "$(A)" "$(STUDENT)"

teach-test: teach-setup
	$(BIN)/python -m pytest -q tests/grading
