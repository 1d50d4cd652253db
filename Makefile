# metarl-lite: `make lab` to study, `make test` to check everything (what CI runs).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export MUJOCO_GL ?= egl
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1
JOBS ?= 2

.PHONY: setup lab test notebooks exercises bench reproduce clean site

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name metarl-lite --display-name "metarl-lite"
	touch $@

lab: setup
	$(VENV)/bin/jupyter lab chapters/

# Library tests, every chapter and solution notebook (nbval, lax), pair sync and exercise checks.
# --dist loadfile keeps each notebook on one worker (its cells share one kernel).
test: setup
	$(PY) -m pytest -n $(JOBS) --dist loadfile tests --nbval-lax --nbval-current-env $(wildcard chapters/*.ipynb solutions/*.ipynb)

# Sync each chapters/NN_slug.py into its .ipynb and execute it in place.
# NB=chapters/02_maml.py make notebooks   runs just one.
notebooks: setup
	for f in $(or $(NB),chapters/[0-9]*.py); do \
	  $(VENV)/bin/jupytext --quiet --sync "$$f" && \
	  $(VENV)/bin/jupyter nbconvert --log-level=WARN --to notebook --execute --inplace \
	    --ExecutePreprocessor.kernel_name=metarl-lite --ExecutePreprocessor.timeout=600 "$${f%.py}.ipynb" || exit 1; \
	done

# Regenerate exercises/ from solutions/ with nbgrader's preprocessors.
exercises: setup
	$(PY) -m metarl_lite.grading generate solutions exercises

# The course site from the executed chapters, nothing re-executed: docs/_build/html/index.html.
# Built afresh (no stale pages); -W fails on any warning, a saved error output included.
SITE := docs/_build/html
site: setup
	rm -rf $(SITE)
	$(PY) -m sphinx -W --keep-going -b html docs $(SITE)

bench: setup
	$(PY) benchmarks/meta_batch.py
	$(PY) benchmarks/sampler.py
	$(PY) benchmarks/meta_iteration.py

# Regenerate results/ with the CLI (hours: run in the background; each run resumes with --resume).
reproduce: setup
	bash results/reproduce.sh

clean:
	rm -rf .pytest_cache build *.egg-info
