#!/usr/bin/env bash
# Runs every test: setup, then pytest over tests/ (PostgreSQL when 127.0.0.1:5432 answers,
# else SQLite). Exits non-zero on failure. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

if [ -z "${DATABASE_URL:-}" ] && (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  # pytest-django creates (and drops) its own database next to "test".
  export DATABASE_URL=postgres://postgres@127.0.0.1:5432/test
  echo "test: PostgreSQL at 127.0.0.1:5432"
else
  echo "test: ${DATABASE_URL:-SQLite}"
fi
# Prefect, JAX and Hypothesis write only under a throwaway directory; nothing is left behind.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export PREFECT_HOME="$scratch/prefect" DO_NOT_TRACK=1 PREFECT_SERVER_ANALYTICS_ENABLED=false
# Hypothesis (schemathesis) keeps its caches there too, not in a .hypothesis/ folder of the tree.
export HYPOTHESIS_STORAGE_DIRECTORY="$scratch/hypothesis"
.venv/bin/python -m pytest -p no:cacheprovider "$@"
