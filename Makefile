# The two commands of the README: `make test` and `make book`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The website serves its own widget manager and MathJax (see _config.yml), copied here from node_modules.
VENDOR := _build/site_extra/_vendor
VENDOR_STAMP := _build/site_extra.stamp
HTML_MANAGER := node_modules/@jupyter-widgets/html-manager/dist
MATHJAX := node_modules/mathjax/es5
# The tests run on every core (pytest-xdist), a module per worker at a time, so a module's fixtures are built once;
# modules go out in file order, so the longest two (test_backends*.py, minutes each) start first.
PARALLEL := -n auto --dist loadscope --no-loadscope-reorder

.PHONY: test unit book chapter-runs chromium lab clean venv lint

# The benchmarks' peers (TFP and tf_keras) are installed too: tests/test_benchmarks.py runs every benchmark script.
$(STAMP): requirements.txt benchmarks/requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r benchmarks/requirements.txt
	$(PY) -m pip install --quiet -c requirements.txt -e ".[all]"  # the package's own dependencies, resolved
	touch $(STAMP)

venv: $(STAMP)

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

$(VENDOR_STAMP): node_modules/.package-lock.json book/js/widget-setup.js
	rm -rf $(VENDOR)
	mkdir -p $(VENDOR)/widgets $(VENDOR)/mathjax/output/chtml/fonts $(VENDOR)/mathjax/input/tex
	cp node_modules/requirejs/require.js book/js/widget-setup.js $(HTML_MANAGER)/embed-amd.js $(VENDOR)/widgets/
	cp $(HTML_MANAGER)/*.woff2 $(HTML_MANAGER)/*.woff $(HTML_MANAGER)/*.ttf $(HTML_MANAGER)/*.eot \
	   $(HTML_MANAGER)/*.svg $(VENDOR)/widgets/
	cp $(MATHJAX)/tex-mml-chtml.js $(VENDOR)/mathjax/
	cp -r $(MATHJAX)/ui $(MATHJAX)/a11y $(VENDOR)/mathjax/
	cp -r $(MATHJAX)/output/chtml/fonts/woff-v2 $(VENDOR)/mathjax/output/chtml/fonts/
	cp -r $(MATHJAX)/input/tex/extensions $(VENDOR)/mathjax/input/tex/
	touch $@

# The browser test of the website needs Debian's chromium: install it when missing and running as root.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the browser test"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 \
	      || echo "could not install chromium: the browser test will fail in CI and be skipped elsewhere"; \
	  else echo "chromium is missing: the browser test will fail in CI and be skipped elsewhere"; fi; }

# Each chapter run once as a reader runs it (the wheel in a fresh environment, the chapter alone in an empty folder),
# in the ci profile; a run is kept while the chapter and the library are unchanged. The book shows these runs (they
# go into its execution cache) and tests/test_chapters.py checks them, so no chapter runs twice in `make test`.
chapter-runs: $(STAMP)
	PIXELCNN_PROFILE=ci $(PY) tests/chapter_runs.py

book: $(STAMP) $(VENDOR_STAMP) chapter-runs
	PIXELCNN_PROFILE=ci PIXELCNN_PROGRESS=0 $(VENV)/bin/jupyter-book build -W --keep-going .

# Everything: the linter, the chapters' runs and the website, then the unit tests, the checks of the chapters' runs
# and the browser tests.
test: lint book chromium
	PIXELCNN_PROFILE=ci $(PY) -m pytest -q tests $(PARALLEL) --durations=25

# ruff, configured in pyproject.toml: line length, import order, unused names; notebooks included
lint: $(STAMP)
	$(VENV)/bin/ruff check .

unit: $(STAMP)
	$(PY) -m pytest -q tests $(PARALLEL) -m "not slow"

lab: $(STAMP)
	$(VENV)/bin/jupyter lab chapters/

clean:
	rm -rf _build
