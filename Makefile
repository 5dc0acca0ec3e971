# The README's two commands: `make demo` and `make test`. Both set everything up on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
export CDK_DISABLE_VERSION_CHECK := 1
export MOTO_EC2_LOAD_DEFAULT_AMIS := false

.PHONY: setup demo test unit lint synth bench bench-idle cost bench-imports clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/costguard demo $(DEMO_ARGS)

lint: setup
	$(VENV)/bin/ruff check infra functions local tests bench
	$(VENV)/bin/ruff format --check infra functions local tests bench
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)
	@# The whole suite ran the handlers: IAM sufficiency was checked against a complete record of their calls.
	$(if $(PYTEST_ARGS),,$(PY) -c "import json, sys; d = json.load(open('build/iam-calls.json')); \
		sys.exit(0 if d['complete'] and d['handlers'] else 'build/iam-calls.json: no complete record of AWS calls')")

unit: setup
	$(VENV)/bin/pytest tests/unit -q

synth: setup
	rm -rf cdk.out
	CDK_OUTDIR=cdk.out $(PY) -m infra.app
	$(VENV)/bin/cfn-lint cdk.out/Costguard.template.json

bench: setup
	$(PY) ../shared/bench/spikebench/run.py --with-baselines --check-causal \
		--detector '$(CURDIR)/$(VENV)/bin/costguard detect --input {input} --format json' --name costguard $(BENCH_ARGS)

bench-idle: setup
	$(PY) bench/idle/run.py $(BENCH_ARGS)

# Monthly cost for one account from the synthesized template (fails at $1/month or more).
cost: setup
	$(PY) bench/cost.py $(COST_ARGS)

# Each handler's cold-start import time in fresh interpreters (goal: <= 0.25 s each).
bench-imports: setup
	$(PY) bench/import_time.py $(BENCH_ARGS)

clean:
	rm -rf cdk.out build .pytest_cache .mypy_cache .ruff_cache
