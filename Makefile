# The two commands a new contributor needs (see README.md):
#   make serve   set up .venv and serve the handbook on http://127.0.0.1:8000
#   make test    set up .venv and run every check (pytest, which includes `mkdocs build --strict`)
SHELL := /bin/bash
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1:8000
export NO_MKDOCS_2_WARNING := 1
export DISABLE_MKDOCS_2_WARNING := true   # the same notice, printed by properdocs (pulled in by mkdocs-redirects)

.PHONY: install serve test build pdf offline vendor clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed          ## create the virtual environment and install requirements.txt

serve: install                       ## live preview on http://$(HOST) (both languages; English under /en/)
	$(PY) -m mkdocs serve --dev-addr $(HOST)

test: install                        ## every check: content model, snippets, tests, strict build, built site
	$(PY) -m pytest

build: install                       ## the static site in site/
	$(PY) -m mkdocs build --strict

offline: install                     ## handbook-offline.zip: the whole site, both languages, opens from file://
	$(PY) -m mkdocs build --strict -q -f editions/offline.yml
	rm -f handbook-offline.zip
	cd build/offline && $(abspath $(PY)) -m zipfile -c ../../handbook-offline.zip handbook
	@ls -l handbook-offline.zip

pdf: install                         ## handbook-zh.pdf and handbook-en.pdf (needs chromium, fonts-wqy-microhei)
	$(PY) tools/print_pdf.py

vendor:                              ## refresh the self-hosted KaTeX and mermaid from npm (package.json)
	npm ci --ignore-scripts
	rm -rf docs/assets/vendor/katex docs/assets/vendor/mermaid docs/assets/vendor/iframe-worker
	mkdir -p docs/assets/vendor/katex docs/assets/vendor/mermaid
	cp node_modules/katex/dist/katex.min.js node_modules/katex/dist/katex.min.css \
	   node_modules/katex/dist/contrib/auto-render.min.js node_modules/katex/LICENSE docs/assets/vendor/katex/
	cp -r node_modules/katex/dist/fonts docs/assets/vendor/katex/
	cp node_modules/mermaid/dist/mermaid.min.js node_modules/mermaid/LICENSE docs/assets/vendor/mermaid/
	mkdir -p docs/assets/vendor/iframe-worker
	cp node_modules/iframe-worker/shim/index.js docs/assets/vendor/iframe-worker/shim.js
	cp node_modules/iframe-worker/LICENSE docs/assets/vendor/iframe-worker/

clean:
	rm -rf site build .cache .pytest_cache handbook-*.pdf handbook-offline.zip
