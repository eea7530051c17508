# Two entry points: `make demo` (install + synthetic end-to-end demo) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# GPU users: TORCH_SPEC="torch==X.Y.Z" (or an empty value to keep an installed torch).
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: install test lint format demo clean

install: $(STAMP)

$(STAMP): setup.py requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	if [ -n "$(TORCH_SPEC)" ]; then $(PY) -m pip install "$(TORCH_SPEC)"; fi
	$(PY) -m pip install -e ".[dev]"
	touch $(STAMP)

test: $(STAMP)
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests -- treating as failure" >&2; fi; \
	exit $$rc

# ruff's lint and format check (configuration: pyproject.toml) and the frame-conversion check; .ci/run runs it
# before the tests.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) scripts/check_frame_conversions.py

# rewrite the tree in the project's format and apply ruff's safe fixes
format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

DEMO_ARGS ?=

demo: $(STAMP)
	$(PY) scripts/run_demo.py --out_dir demo_out $(DEMO_ARGS)

clean:
	rm -rf $(VENV) *.egg-info demo_out
