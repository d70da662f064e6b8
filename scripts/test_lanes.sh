#!/usr/bin/env bash
# `make test`: the whole suite on SQLite and on PostgreSQL, the two lanes at once. Most of the suite
# waits on real servers (workers, gunicorn, the simulator, Chromium), so two lanes on two cores take
# little more than one. Each lane writes its own log; both are printed whole when they end, and the
# run fails if either fails.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
logs=$(mktemp -d)
"$PY" -m pytest ${PYTEST_ARGS:-} > "$logs/sqlite.log" 2>&1 &
sqlite=$!
TEST_DATABASE=postgresql "$PY" -m pytest ${PYTEST_ARGS:-} > "$logs/postgresql.log" 2>&1 &
postgres=$!
wait $sqlite; sqlite_rc=$?
wait $postgres; postgres_rc=$?
for lane in sqlite postgresql; do
  echo "===== pytest on $lane ====="
  cat "$logs/$lane.log"
done
echo "===== SQLite: código $sqlite_rc · PostgreSQL: código $postgres_rc ====="
rm -rf "$logs"
[ "$sqlite_rc" -eq 0 ] && [ "$postgres_rc" -eq 0 ]
