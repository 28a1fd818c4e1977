# The two commands of the README: `make test` and `make book`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test unit book lab clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	PIXELCNN_PROFILE=ci $(PY) -m pytest -q tests

unit: $(STAMP)
	$(PY) -m pytest -q tests -m "not slow"

book: $(STAMP)
	PIXELCNN_PROFILE=ci $(VENV)/bin/jupyter-book build -W --keep-going .

lab: $(STAMP)
	$(VENV)/bin/jupyter lab chapters/

clean:
	rm -rf _build
