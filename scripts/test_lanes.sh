#!/usr/bin/env bash
# `make test`: the whole suite on SQLite and on PostgreSQL, the two lanes at once, then the cluster lane
# (two machines behind nginx, tests/cluster). Most of the suite waits on real servers (workers,
# gunicorn, the simulator, Chromium), so two lanes on two cores take little more than one. The cluster
# lane runs alone afterwards: it measures how fast a lost machine's runs finish, and must not share the
# cores with two other lanes while it does. Each lane's log is printed whole; the run fails if any fails.
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
echo "===== pytest on the cluster lane ====="
CLUSTER_LANE=1 "$PY" -m pytest -s tests/cluster; cluster_rc=$?
echo "===== SQLite: código $sqlite_rc · PostgreSQL: código $postgres_rc · cluster: código $cluster_rc ====="
rm -rf "$logs"
[ "$sqlite_rc" -eq 0 ] && [ "$postgres_rc" -eq 0 ] && [ "$cluster_rc" -eq 0 ]
