#!/usr/bin/env bash
# `make prod-dev`: the production profile's Dagster as a cluster runs it, three processes on
# one machine: the code location as a gRPC server, the webserver and the daemon, which load
# the definitions from that server, and the feature stream's consumer. The instance (deploy/dagster.production.yaml) keeps runs,
# event logs, schedules and sensor ticks in PostgreSQL. Ctrl-C stops them all.
set -euo pipefail
# Each process in its own process group: a Dagster process started with a plain `&` ignores
# SIGTERM; signalled as a group, it stops.
set -m
: "${FTI_DAGSTER_POSTGRES_URL:?set FTI_DAGSTER_POSTGRES_URL, e.g. postgresql://postgres@127.0.0.1:5432/dagster}"
: "${FTI_MLFLOW_TRACKING_URI:?set FTI_MLFLOW_TRACKING_URI, e.g. postgresql://postgres@127.0.0.1:5432/mlflow}"
: "${DAGSTER_HOME:?set DAGSTER_HOME}"
export FTI_ENV=production
bin=${VENV_BIN:-.venv/bin}
code_port=${FTI_CODE_SERVER_PORT:-4266}
mkdir -p "$DAGSTER_HOME"
# The instance file from deploy/dagster.production.yaml (fti_assets/platform/instance.py), and the
# variables its storage wants (Dagster's batched event writes with the storage accelerator).
for assignment in $("$bin/python" -m fti_assets.platform.instance "$DAGSTER_HOME"); do export "$assignment"; done
sed "s/port: 4266/port: $code_port/" deploy/workspace.production.yaml > "$DAGSTER_HOME/workspace.yaml"

pids=()
stop() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  wait || true
}
trap stop EXIT INT TERM

"$bin/dagster" code-server start -m fti_assets.definitions -h 127.0.0.1 -p "$code_port" &
pids+=($!)
until "$bin/dagster" api grpc-health-check -h 127.0.0.1 -p "$code_port" >/dev/null 2>&1; do
  kill -0 "${pids[0]}" 2>/dev/null || { echo "the code server exited" >&2; exit 1; }
  sleep 1
done
"$bin/dagster-webserver" -w "$DAGSTER_HOME/workspace.yaml" -h 127.0.0.1 -p "${PORT:-3000}" &
pids+=($!)
"$bin/dagster-daemon" run -w "$DAGSTER_HOME/workspace.yaml" &
pids+=($!)
# The feature stream's consumer: events from FTI_STREAM_URL into the Redis online store.
"$bin/fti" stream consume --name "prod-dev-$(hostname)" &
pids+=($!)
echo "code server :$code_port, webserver http://127.0.0.1:${PORT:-3000}, daemon, stream consumer; storage $FTI_DAGSTER_POSTGRES_URL"
wait -n  # one of them ended: stop the others
