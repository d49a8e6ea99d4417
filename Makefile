# Two commands: `make book` builds the whole course website, `make test` passes the tests;
# a student's one: `make lab` opens the chapters in JupyterLab.
# All create .venv when missing, install torch 2.13.0 first (a local CPU build here), then
# the course package with JupyterLab, and prepare the data: real files from the cache or
# ../shared/data, else downloaded (checksummed), synthetic stand-ins only where that fails.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
SHARED_DATA ?= ../shared/data
PROFILE ?= smoke
# `make lab`: the profile the notebooks opened in JupyterLab run (a student's CPU by default)
LAB_PROFILE ?= laptop
# extra flags for `jupyter lab` (the first-hour test: --no-browser --port=...)
LAB_ARGS ?=
# OFFLINE=1: prepare never downloads (labelled stand-ins for what is neither cached nor seeded)
OFFLINE ?=
KERNEL_NAME = dl-rna-dna-course
# where `make lab` keeps the student's copies of the chapters
WORKSPACE ?= workspace
CHAPTERS ?=
# chapters and student notebooks (cores // JOBS threads each) and test files run this many at once
JOBS ?= 2

.PHONY: book test setup data lab workspace chapters tiny student-check site lint clean browser-deps \
	reference site-reader \
	constraints test-latest

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]" -c constraints.txt
	$(PY) -m ipykernel install --user --name $(KERNEL_NAME) \
	  --display-name "Python (DL for RNA and DNA course)" >/dev/null
	@touch $@

setup: $(VENV)/.installed

data: setup
	$(PY) -m data_scripts prepare --profile $(PROFILE) --shared $(SHARED_DATA) $(if $(OFFLINE),--offline)

# A student's notebooks: the student versions (exercise solutions removed, checks that answer
# "not yet") copied into workspace/ once; a copy that exists is never overwritten, so a student's
# answers survive `git pull` and every later `make lab`. The chapter notebooks in notebooks/ keep
# the solutions (folded on the site) and stay clean in git.
workspace: setup
	$(PY) -m course_book.student --output _build/student-workspace >/dev/null
	@mkdir -p $(WORKSPACE)
	@for nb in _build/student-workspace/*.ipynb; do \
	  test -e "$(WORKSPACE)/$${nb##*/}" || cp "$$nb" "$(WORKSPACE)/"; done
	@echo "$(WORKSPACE)/: your copies of the chapters (make never overwrites them)"

lab: workspace
	$(PY) -m data_scripts prepare --profile $(LAB_PROFILE) --shared $(SHARED_DATA) $(if $(OFFLINE),--offline)
	COURSE_PROFILE=$(LAB_PROFILE) $(VENV)/bin/jupyter lab --notebook-dir=$(WORKSPACE) \
	  $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

chapters: data
	$(PY) -m course_book.run $(CHAPTERS) --profile $(PROFILE) --jobs $(JOBS)

# laptop and full on their own code paths at tiny sizes (each chapter's "tiny" settings), so that
# every profile's code runs in CI before a student's does; output in _build/tiny/<profile>
tiny: data
	$(PY) -m course_book.run $(CHAPTERS) --profile laptop --tiny --jobs $(JOBS)
	$(PY) -m course_book.run $(CHAPTERS) --profile full --tiny --jobs $(JOBS)

# the student versions (solutions removed, checks answer "not yet") run top to bottom at smoke
# under nbval, which also compares the stored outputs of the cells marked NBVAL_CHECK_OUTPUT
STUDENT_ENV = COURSE_PROFILE=smoke COURSE_STRICT_CHECKS=0 COURSE_PROGRESS=text \
	COURSE_RESULTS_DIR=$(CURDIR)/_build/student/results \
	COURSE_CHECKPOINT_DIR=$(CURDIR)/_build/student/checkpoints \
	MPLBACKEND=module://matplotlib_inline.backend_inline
student-check: data
	$(PY) -m course_book.student $(CHAPTERS)
	OMP_NUM_THREADS=$$(( $$(nproc) / $(JOBS) > 0 ? $$(nproc) / $(JOBS) : 1 )) $(STUDENT_ENV) \
	  $(PY) -m pytest -q -p no:cacheprovider --nbval-lax --nbval-cell-timeout=1800 \
	  -n $(JOBS) --dist loadfile _build/student

# the schematic figures of book/figures (deterministic SVGs from course_book/schematics.py)
.PHONY: figures
figures: setup
	$(PY) -m course_book.schematics --out book/figures

site:
	$(PY) -m course_book.site

book: chapters
	$(MAKE) site

# Reference results: `make reference PROFILE=laptop` runs every chapter (or CHAPTERS) at PROFILE,
# one at a time, and keeps its results in book/reference_results/PROFILE with the commit, date,
# machine, wall time and code hash (python -m course_book.reference). One set is one commit:
# REPLACE=1 removes an older set first. The site shows them beside its smoke numbers.
reference: data
	$(PY) -m course_book.reference record --profile $(PROFILE) $(CHAPTERS) $(if $(REPLACE),--replace)

# The site a reader should see, the one to deploy: every chapter run at smoke, each page and the
# results dashboard showing the laptop references beside it (refused while a chapter has none;
# a reference whose chapter's code changed since is shown marked STALE).
site-reader: setup
	$(PY) -m course_book.reference status --require laptop
	$(MAKE) book PROFILE=smoke

# Debian's chromium for tests/test_browser.py: installed once, when root and apt-get allow it.
browser-deps:
	@if [ -x /usr/bin/chromium ]; then echo "browser-deps: /usr/bin/chromium is installed"; \
	elif [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
	  echo "browser-deps: /usr/bin/chromium is missing; install Debian's chromium package as root" \
	       "(apt-get install chromium), or tests/test_browser.py fails under make test"; \
	else apt-get update && apt-get install -y --no-install-recommends chromium \
	  || echo "browser-deps: installing chromium failed; tests/test_browser.py will fail"; fi

# the tests two at a time, each file in one worker (its module fixtures built once); the workers'
# torch threads oversubscribe the cores, so OpenMP threads sleep at once instead of spinning
test: book tiny student-check browser-deps
	COURSE_REQUIRE_BUILD=1 OMP_WAIT_POLICY=PASSIVE $(PY) -m pytest -q -ra -n $(JOBS) --dist loadfile

lint: setup
	$(VENV)/bin/ruff check course_lib course_book data_scripts tests benchmarks notebooks
	$(VENV)/bin/ruff format --check course_lib course_book data_scripts tests benchmarks notebooks

# the pinned versions (constraints.txt) from the environment make setup built
constraints: setup
	{ sed -n '1,3p' constraints.txt; $(PY) -m pip freeze --exclude-editable | \
	  sed 's/^torch==2.13.0+cpu$$/torch==2.13.0/'; } > constraints.new && mv constraints.new constraints.txt

# the newest releases the index offers (torch kept at the local build) in .venv-latest: unit tests
# and smoke chapters there, and a report of what moved and what broke in _build/latest/report.md
LATEST_VENV ?= .venv-latest
test-latest:
	rm -rf $(LATEST_VENV) && $(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/pip install --quiet torch==2.13.0
	$(LATEST_VENV)/bin/pip install --quiet --upgrade --upgrade-strategy eager -e ".[dev]"
	$(LATEST_VENV)/bin/python -m data_scripts prepare --profile smoke --shared $(SHARED_DATA) --offline
	$(LATEST_VENV)/bin/python -m course_book.drift --pinned constraints.txt --output _build/latest

clean:
	rm -rf _build results
