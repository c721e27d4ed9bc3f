# The two commands a new contributor needs (see README.md):
#   make serve   set up .venv and serve the handbook on http://127.0.0.1:8000
#   make test    set up .venv and the system packages, run every check (pytest, incl. `mkdocs build --strict`)
# and the loop while writing:
#   make check   content model, strict build, and the tests of what changed against main (or CHAPTER=norms)
# and the downloads: make pdf, make offline, make anki (Anki decks and CSV/TSV of every question)
# and the Lighthouse audit: make audit (accessibility, best practices, SEO, performance; build/lighthouse/)
# and how good the tests are: make mutation [SNIPPET=norms/rmsnorm | CHAPTER=norms] (report in build/mutation/)
SHELL := /bin/bash
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1:8000
# pytest-xdist workers for `make test` (auto = one per core); JOBS=0 runs in one process. worksteal: a worker
# with nothing left takes queued tests from the other (with the default `load`, the ~190 tests queued behind
# the PDF prints on the first worker waited for the prints to end). Not loadgroup: with pytest 9.2 its
# xdist_group marks are silently ignored (pytest-xdist 3.8 renames item._nodeid, which pytest 9 no longer reads).
JOBS   ?= auto
# the browser the tests and the PDF printer drive (Debian's by default; CI on GitHub points it at Chrome)
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM
export NO_MKDOCS_2_WARNING := 1
# the same notice, printed by properdocs (pulled in by mkdocs-redirects)
export DISABLE_MKDOCS_2_WARNING := true

.PHONY: install sysdeps serve test check mutation mutation-scores build pdf offline anki vendor audit clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed          ## create the virtual environment and install requirements.txt

sysdeps:                             ## Chromium, CJK fonts and poppler: installed with apt-get if missing
	@bash tools/sysdeps.sh

serve: install                       ## live preview on http://$(HOST) (both languages; English under /en/)
	$(PY) -m mkdocs serve --dirty --no-strict --dev-addr $(HOST)

test: sysdeps install                ## every check: content model, snippets, tests, strict build, site, PDF, offline
	$(PY) -m pytest -n $(JOBS) --dist worksteal

check: install                       ## while writing: content model, strict build, tests of what changed
	$(PY) tools/check.py $(CHAPTER)

# mutants run at once by `make mutation` (default: one per core)
MUTATION_JOBS ?= 0

mutation: install                    ## mutation testing of the code pages show, each snippet judged by its page's test file; SNIPPET=norms/rmsnorm or CHAPTER=norms for less; report in build/mutation/report.md
	$(PY) tools/mutation.py --jobs $(MUTATION_JOBS) $(if $(SNIPPET),--snippet $(SNIPPET)) $(if $(CHAPTER),--chapter "$(CHAPTER)")

mutation-scores: install              ## the mutation score per chapter over all shown code, from the ledger data/mutation_scores.tsv (stale and missing snippets named)
	$(PY) tools/mutation.py --scores

build: install                       ## the static site in site/
	$(PY) -m mkdocs build --strict

offline: sysdeps install             ## handbook-offline.zip: the whole site, both languages, opens from file://
	$(PY) -m mkdocs build --strict -q -f editions/offline.yml
	rm -f handbook-offline.zip
	cd build/offline && $(abspath $(PY)) -m zipfile -c ../../handbook-offline.zip handbook
	@ls -l handbook-offline.zip

pdf: sysdeps install                 ## handbook-zh.pdf and handbook-en.pdf
	$(PY) tools/print_pdf.py

anki: install                        ## Anki decks handbook-{zh,en}.apkg and handbook-{zh,en}.csv/.tsv (links from SITE_URL)
	$(PY) tools/anki.py

audit: build                         ## Lighthouse (mobile, median of 3) on one page of each kind, zh and en, served with gzip; needs `npm ci`; reports in build/lighthouse/
	$(PY) tools/lighthouse.py --site site --runs 3

vendor:                              ## refresh the self-hosted KaTeX, mermaid and ts-fsrs, and the tests' axe-core, from npm (package.json)
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
	rm -rf docs/assets/vendor/ts-fsrs && mkdir -p docs/assets/vendor/ts-fsrs
	sed '/^\/\/# sourceMappingURL=/d' node_modules/ts-fsrs/dist/index.umd.js > docs/assets/vendor/ts-fsrs/ts-fsrs.umd.js
	cp node_modules/ts-fsrs/LICENSE docs/assets/vendor/ts-fsrs/
	rm -rf tests/vendor/axe-core && mkdir -p tests/vendor/axe-core
	cp node_modules/axe-core/axe.min.js node_modules/axe-core/LICENSE node_modules/axe-core/LICENSE-3RD-PARTY.txt tests/vendor/axe-core/

clean:
	rm -rf site build .cache .pytest_cache handbook-*.pdf handbook-offline.zip handbook-*.apkg handbook-*.csv handbook-*.tsv
