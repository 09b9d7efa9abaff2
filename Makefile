# The course's entry points. A newcomer needs two:
#   make lab    set everything up and open JupyterLab on lesson 1
#   make test   set everything up and run every check
VENV ?= .venv
BIN := $(VENV)/bin
LESSON ?= 01_backprop
PYTEST_ARGS ?=

.PHONY: setup lab test lint format release validate bench browser clean grading-sandbox site

setup:
	@bash scripts/setup.sh

# The URL JupyterLab prints (and opens) is the lesson's own page, not the Launcher:
# default_url is the lesson, served from the repository's root (as on Binder).
# --allow-root only where we are root (a container); JupyterLab refuses root otherwise.
lab: setup
	@test -f notebooks/$(LESSON).ipynb || { echo "no lesson $(LESSON); the lessons are:" \
		$$(ls notebooks | sed -n 's/\.ipynb$$//p') >&2; exit 2; }
	$(BIN)/jupyter lab --ServerApp.root_dir=. \
		--LabApp.default_url=/lab/tree/notebooks/$(LESSON).ipynb \
		$(if $(filter 0,$(shell id -u)),--allow-root)

test: setup
	@bash scripts/install-browser.sh
	@bash scripts/install-sandbox.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest --durations=40 $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The grader's jail (Debian's bubblewrap), for instructors who grade: `make grading-sandbox`.
grading-sandbox:
	@bash scripts/install-sandbox.sh

release: setup
	$(BIN)/autograder release

validate: setup
	$(BIN)/autograder validate

# The course website: every lesson as a static page with its figures, no solution
# (autograder/site.py). Pages in build/site/; the executed masters stay in build/site-cache/.
site: setup
	$(BIN)/python -m autograder.site --out build/site

# Benchmarks (not tests): results go to bench/results/*.md
bench: setup
	$(BIN)/python -m bench.lessons
	$(BIN)/python -m bench.monitor_overhead
	$(BIN)/python -m bench.diagnose
	$(BIN)/python -m bench.grading
	$(BIN)/python -m bench.isolation
	$(BIN)/python -m bench.claims_robustness

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis test-artifacts autograder/release build/site build/site-cache
