# Two commands do everything: `make repro` (set up + run the pipeline) and `make test`.
# VENV picks the virtual environment: `make test VENV=/path/to/venv` reuses an existing one.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
# Rebuilt when missing or older than requirements.txt.
INSTALLED := $(VENV)/.requirements-installed

.PHONY: setup repro repro-all test benchmark-gaf benchmark-frames benchmark-train-step study study-plan clean-venv

setup: $(INSTALLED)

$(INSTALLED): requirements.txt requirements-nodeps.txt
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements.txt
	$(PYTHON) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	touch $@

# The params file is checked first: DVC reads it to resolve dvc.yaml before any stage runs.
repro: $(INSTALLED)
	$(PYTHON) -m stages.check_params
	PATH="$(abspath $(VENV))/bin:$$PATH" dvc repro

# The first run trains one protocol; this adds the synthetic data's other three, as a DVC
# experiment applied to the workspace (params.yaml then lists all four).
ALL_PROTOCOLS := [cross_subject,cross_view,cross_scene,cross_session]
repro-all: $(INSTALLED)
	PATH="$(abspath $(VENV))/bin:$$PATH" dvc exp run -S 'splits.protocols=$(ALL_PROTOCOLS)'

test: $(INSTALLED)
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PYTHON) -m pytest

benchmark-gaf: $(INSTALLED)
	$(PYTHON) -m benchmarks.gaf

benchmark-frames: $(INSTALLED)
	$(PYTHON) -m benchmarks.frames

benchmark-train-step: $(INSTALLED)
	$(PYTHON) -m benchmarks.train_step

# A distillation study from its spec: `make study SPEC=studies/utd_mhad_depth.yaml`. Resumes
# where it stopped; a finished study (every run in its run record) reruns in seconds.
SPEC ?= studies/utd_mhad_depth.yaml
study: $(INSTALLED)
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PYTHON) -m pipeline.study $(SPEC)

# What `make study` would train and for how long (the spec's cost model); trains nothing.
study-plan: $(INSTALLED)
	$(PYTHON) -m pipeline.study $(SPEC) --plan

clean-venv:
	rm -rf $(VENV)
