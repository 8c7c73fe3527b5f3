# Everything a contributor or CI runs. Each target creates .venv first when needed, so a
# fresh clone needs no other set-up step: `make demo` and `make test` are the README's two.

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
# Written after a complete install; pyproject.toml changes make it stale.
STAMP := $(VENV)/.bulk_triggers-installed
# Written after installing the package alone (make demo); the complete install writes it too.
DEMO_STAMP := $(VENV)/.bulk_triggers-demo-installed
BENCH_STAMP := $(VENV)/.bulk_triggers-bench-installed

# Extra arguments: `make test-fast PYTEST_ARGS="-k bulk_update -x"`,
# `make test-matrix NOX_ARGS="-s 'tests(django6.1)'"`.
PYTEST_ARGS ?=
NOX_ARGS ?=
BENCH_ARGS ?=
# The matrix sessions run side by side: they mostly wait on the database servers, so even two
# cores finish three sessions in little more than the time of one. nox prints a session's output
# when it ends; NOX_JOBS=1 streams it instead.
NOX_JOBS ?= 3

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

.PHONY: help venv test test-fast test-matrix lint demo compat bench docs docs-serve clean

help:
	@echo "make demo         set up .venv with Django, the package and django-tasks only, migrate"
	@echo "                  the example project on SQLite, run its demo (no server or driver needed)"
	@echo "make test         the whole suite: on .venv's Django, then on every Django series"
	@echo "                  of the nox matrix whose Python is installed"
	@echo "make test-fast    the quick run: the suite on .venv's Django only (PYTEST_ARGS=...)"
	@echo "make test-matrix  the nox matrix only (NOX_ARGS=... to pick sessions)"
	@echo "make lint         ruff check, ruff format --check, mypy --strict on the package"
	@echo "make compat       Django's own write-path suites with TriggerQuerySet everywhere,"
	@echo "                  then again with a trigger on every model (tests/compat/)"
	@echo "make bench        the benchmarks"
	@echo "make docs         build the documentation site into site/ (mkdocs --strict: warnings,"
	@echo "                  broken links and anchors fail); make docs-serve serves it live"
	@echo "make clean        remove .venv, .nox and every generated file"

venv: $(STAMP)

# `make .venv` works too; the real work hangs off the stamp inside it.
$(VENV): $(STAMP)
	@:

$(VPY):
	@command -v $(PYTHON) >/dev/null || { \
		echo "make: '$(PYTHON)' not found; install Python 3.10 or newer, or pass PYTHON=/path/to/python3." >&2; \
		exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { \
		echo "make: $(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'); bulk_triggers needs 3.10 or newer (PYTHON=python3.12 make ...)." >&2; \
		exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip

# The demo needs Django, the package and its tasks extra (the django-tasks backport, pure
# Python, for the example's task trigger on Django 5.2): no database driver, no MySQL headers.
$(DEMO_STAMP): pyproject.toml | $(VPY)
	$(VPY) -m pip install --quiet -e '.[tasks]'
	@touch $@

$(STAMP): pyproject.toml | $(VPY)
	@echo "$(VPY) -m pip install --quiet -e '.[test,lint,release,docs]'  (a minute or two the first time)"
	@$(VPY) -m pip install --quiet -e '.[test,lint,release,docs]' || { \
		echo "" >&2; \
		echo "make: installing into $(VENV) failed. If the error above comes from mysqlclient" >&2; \
		echo "      ('Can not find valid pkg-config name', 'mysql_config not found'), its build" >&2; \
		echo "      needs the MariaDB/MySQL client headers and pkg-config. On Debian or Ubuntu:" >&2; \
		echo "          sudo apt-get install default-libmysqlclient-dev pkg-config build-essential python3-dev" >&2; \
		echo "      then run make again. (make demo needs none of this.)" >&2; \
		exit 1; }
	@touch $@ $(DEMO_STAMP)

# One after the other (each keeps both cores busy), and both always run; their test databases
# differ (nox appends the Django series to the suffix).
test: venv
	@status=0; \
	$(MAKE) --no-print-directory test-fast || status=1; \
	$(MAKE) --no-print-directory test-matrix || status=1; \
	exit $$status

test-fast: venv
	$(VPY) -m pytest $(PYTEST_ARGS)

# Without CI set, nox skips a session whose Python is not installed; with CI set, it fails.
# nox holds a parallel session's output until the session ends; meanwhile each session appends
# its progress (start, counts at every tenth of its tests, end: tests/progress.py) to a file
# that is printed here as it grows.
test-matrix: venv
	@progress=$$(mktemp); \
	tail -n +1 -f "$$progress" & tailer=$$!; \
	status=0; \
	BULK_TRIGGERS_PROGRESS="$$progress" \
		$(VPY) -m nox --parallel $(NOX_JOBS) $(NOX_ARGS) $(if $(strip $(PYTEST_ARGS)),-- $(PYTEST_ARGS)) \
		|| status=$$?; \
	sleep 1; kill $$tailer 2>/dev/null || true; wait $$tailer 2>/dev/null || true; \
	rm -f "$$progress"; \
	exit $$status

# Run every check, then fail if any failed, so one run shows all problems.
lint: venv
	@status=0; \
	echo "+ ruff check ."; $(VPY) -m ruff check . || status=1; \
	echo "+ ruff format --check ."; $(VPY) -m ruff format --check . || status=1; \
	echo "+ mypy (strict, files from pyproject.toml)"; $(VPY) -m mypy || status=1; \
	exit $$status

# VENV=/elsewhere makes the demo's environment there (.ci/run proves it needs no test extra).
demo: $(DEMO_STAMP)
	@test -f example_project/manage.py || { echo "make: example_project/manage.py is missing." >&2; exit 1; }
	cd example_project && $(abspath $(VPY)) manage.py migrate --noinput
	cd example_project && $(abspath $(VPY)) manage.py demo

compat: venv
	@test -f tests/compat/run.sh || { echo "make: tests/compat/run.sh is missing." >&2; exit 1; }
	bash tests/compat/run.sh
	bash tests/compat/run.sh --with-triggers

$(BENCH_STAMP): $(STAMP)
	$(VPY) -m pip install -e '.[test,lint,bench]'
	@# django-bulk-hooks, the delete() peer, pinned to the installed Django (it needs < 6.0).
	$(VPY) -m pip install --quiet 'django-bulk-hooks>=0.4.16' \
		"Django==$$($(VPY) -c 'import django; print(django.__version__)')" \
		|| echo "make bench: django-bulk-hooks does not install beside this Django; the benchmark reports it as skipped."
	@touch $@

bench: venv
	@if [ -d benchmarks ]; then \
		$(MAKE) --no-print-directory $(BENCH_STAMP) && $(VPY) -m benchmarks $(BENCH_ARGS); \
	else \
		echo "make bench: there is no benchmarks/ package yet (it comes with issue 5)."; \
	fi

# The docs extra comes with the complete install (tests/test_docs_site.py renders pages too).
docs: venv
	NO_MKDOCS_2_WARNING=1 $(VPY) -m mkdocs build --strict --site-dir site

docs-serve: venv
	NO_MKDOCS_2_WARNING=1 $(VPY) -m mkdocs serve

clean:
	rm -rf $(VENV) .nox .compat bench-results build dist site *.egg-info htmlcov \
		.pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage .coverage.*
	rm -f *.sqlite3 example_project/*.sqlite3
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
