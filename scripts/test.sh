#!/usr/bin/env bash
# The whole suite against the machine's real PostgreSQL and Redis (DATABASE_URL / REDIS_URL to
# override), then the fast subset again on SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export DJANGO_SETTINGS_MODULE=config.settings.test
mkdir -p var/artifacts
echo "== PostgreSQL: full suite"
"$VENV/bin/pytest" -q --create-db -p no:cacheprovider "$@"
echo "== SQLite: the fast subset"
DATABASE_URL="sqlite:///$(pwd)/var/test-sqlite.sqlite3" "$VENV/bin/pytest" -q -m sqlite --create-db -p no:cacheprovider
