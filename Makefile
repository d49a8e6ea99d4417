# Two commands: `make book` builds the whole course website, `make test` passes the tests.
# Both create .venv when missing, install torch 2.13.0 first (a local CPU build here), then
# the course package, and prepare the data offline (real files from the cache or ../shared/data,
# synthetic stand-ins otherwise).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
SHARED_DATA ?= ../shared/data
PROFILE ?= smoke
CHAPTERS ?=
# chapters (and student notebooks under nbval) run this many at once, cores // JOBS threads each
JOBS ?= 2
# OpenMP threads that spin while waiting slow torch by 10x when the cores are shared
OMP_WAIT_POLICY ?= PASSIVE
export OMP_WAIT_POLICY

.PHONY: book test setup data chapters tiny student-check site lint clean browser-deps

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $@

setup: $(VENV)/.installed

data: setup
	$(PY) -m data_scripts prepare --shared $(SHARED_DATA)

chapters: data
	$(PY) -m course_lib.run $(CHAPTERS) --profile $(PROFILE) --jobs $(JOBS)

# laptop and full on their own code paths at tiny sizes (each chapter's "tiny" settings), so that
# every profile's code runs in CI before a student's does; output in _build/tiny/<profile>
tiny: data
	$(PY) -m course_lib.run $(CHAPTERS) --profile laptop --tiny --jobs $(JOBS)
	$(PY) -m course_lib.run $(CHAPTERS) --profile full --tiny --jobs $(JOBS)

# the student versions (solutions removed, checks answer "not yet") run top to bottom at smoke
# under nbval, which also compares the stored outputs of the cells marked NBVAL_CHECK_OUTPUT
STUDENT_ENV = COURSE_PROFILE=smoke COURSE_STRICT_CHECKS=0 COURSE_PROGRESS=text \
	COURSE_RESULTS_DIR=$(CURDIR)/_build/student/results \
	COURSE_CHECKPOINT_DIR=$(CURDIR)/_build/student/checkpoints \
	MPLBACKEND=module://matplotlib_inline.backend_inline
student-check: data
	$(PY) -m course_lib.student $(CHAPTERS)
	OMP_NUM_THREADS=$$(( $$(nproc) / $(JOBS) > 0 ? $$(nproc) / $(JOBS) : 1 )) $(STUDENT_ENV) \
	  $(PY) -m pytest -q -p no:cacheprovider --nbval-lax --nbval-cell-timeout=1800 \
	  -n $(JOBS) --dist loadfile _build/student

site:
	$(PY) -m course_lib.site

book: chapters
	$(MAKE) site

# Debian's chromium for tests/test_browser.py: installed once, when root and apt-get allow it.
browser-deps:
	@if [ -x /usr/bin/chromium ]; then echo "browser-deps: /usr/bin/chromium is installed"; \
	elif [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
	  echo "browser-deps: /usr/bin/chromium is missing; install Debian's chromium package as root" \
	       "(apt-get install chromium), or tests/test_browser.py fails under make test"; \
	else apt-get update && apt-get install -y --no-install-recommends chromium \
	  || echo "browser-deps: installing chromium failed; tests/test_browser.py will fail"; fi

test: book tiny student-check browser-deps
	COURSE_REQUIRE_BUILD=1 $(PY) -m pytest -q -ra

lint: setup
	$(VENV)/bin/ruff check course_lib data_scripts tests benchmarks notebooks
	$(VENV)/bin/ruff format --check course_lib data_scripts tests benchmarks notebooks

clean:
	rm -rf _build results
