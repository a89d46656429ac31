# The workbook's commands.  `make lab` and `make test` are the two a newcomer needs;
# both create the virtual environment on first use and reuse it afterwards.
#
#   make lab          student versions of every assignment in ./workspace, opened in JupyterLab
#   make test         the whole test suite (course_utils, notebooks, the nbgrader pipeline)
#   make release      [A=01_backprop] [EXCHANGE=1]  instructor: student versions into grading/release/
#                                      (EXCHANGE=1: also into nbgrader's exchange, $$WORKBOOK_EXCHANGE)
#   make collect      A=01_backprop DIR=folder  instructor: file an LMS download (notebooks/zips) as submissions
#   make collect      A=01_backprop EXCHANGE=1  instructor: collect the submissions in nbgrader's exchange
#   make autograde    A=01_backprop [JOBS=2]  instructor: grade grading/submitted/*/A (JOBS workers at once)
#   make audit        A=01_backprop    instructor: submitted code that tampers with grading (never changes scores)
#   make scores       A=01_backprop    instructor: per-cell scores from the gradebook
#   make feedback     A=01_backprop    instructor: feedback HTML, hidden tests removed
#   make export                        instructor: grades to grading/grades.csv
#   make summary      A=01_backprop    instructor: per-question statistics (CSV and plot) in grading/reports/A
#   make formgrader                    instructor: JupyterLab with nbgrader's formgrader for manual grading
#   make report                        notebook run times, accuracies and autograde time per submission

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.workbook-installed
RUN    := PATH="$(abspath $(BIN)):$$PATH"
A      ?=
JOBS   ?= 1
EXCHANGE ?=

.PHONY: env lab test release collect autograde audit scores feedback export summary formgrader report clean

env: $(STAMP)
	@# course_utils is installed in editable mode; re-point it if this checkout moved.
	@$(PY) -P -c "import os, sys, course_utils; sys.exit(os.path.dirname(os.path.dirname(os.path.realpath(course_utils.__file__))) != os.path.realpath('.'))" 2>/dev/null \
	  || $(PY) -m pip install --quiet --no-deps -e .

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

lab: env
	$(RUN) $(PY) grading/course.py student --dest workspace
	$(RUN) $(BIN)/jupyter lab --notebook-dir=workspace

test: env
	$(RUN) MPLBACKEND=Agg $(PY) -m pytest

release: env
	$(RUN) $(PY) grading/course.py release $(A) $(if $(EXCHANGE),--exchange)

collect: env
	$(RUN) $(PY) grading/course.py collect $(A) $(if $(EXCHANGE),--exchange,"$(DIR)")

autograde: env
	$(RUN) $(PY) grading/course.py autograde $(A) --jobs $(JOBS)

audit: env
	$(RUN) $(PY) grading/course.py audit $(A)

scores: env
	$(RUN) $(PY) grading/course.py scores $(A)

feedback: env
	$(RUN) $(PY) grading/course.py feedback $(A)

export: env
	$(RUN) $(PY) grading/course.py export

summary: env
	$(RUN) $(PY) grading/course.py summary $(A)

formgrader: env
	cd grading && $(RUN) $(abspath $(BIN))/jupyter lab

report: env
	$(RUN) MPLBACKEND=Agg $(PY) grading/report.py

clean:
	rm -rf grading/release grading/submitted grading/downloaded grading/autograded grading/feedback grading/reports grading/gradebook.db grading/grades.csv
