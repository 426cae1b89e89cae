#!/usr/bin/env bash
# One generator node of a multi-node load run: what the GitHub workflow's
# matrix jobs, the Kubernetes Indexed Job and the local three-node test all
# run. It starts `loadtest` with the run's common settings; every node of
# a run gets the same run id and start instant and its own node id, writes
# OUT_DIR/RUN_ID/node-N/, and `loadtest merge` judges them together.
#
#   node.sh --node-id N --run-id ID --start-at TIME --host URL \
#           --users U --duration T --out-dir DIR [-- more loadtest options]
#
# Each option may come from the environment instead: LOADTEST_NODE_ID,
# LOADTEST_RUN_ID, LOADTEST_START_AT, LOADTEST_HOST, LOADTEST_USERS,
# LOADTEST_DURATION, LOADTEST_OUT_DIR; with no node id, a Kubernetes Indexed
# Job's JOB_COMPLETION_INDEX + 1. LOADTEST_BIN names the binary (default:
# `loadtest` on PATH).
#
# TIME: RFC 3339 (2026-11-26T10:00:00Z) or unix seconds; the node sets up,
# then waits for it (refused, exit 2, if more than 5 s past). T: goose's
# run time (60, 90s, 2m).
#
# Exit code: 0 once the node's run directory is written, whatever its own
# verdict (a node alone cannot judge the run: `loadtest merge` does, with
# the thresholds); otherwise loadtest's (2 usage error, 1 no record
# written, 130/143 interrupted). SIGTERM/SIGINT are passed on to loadtest,
# which stops the load and still writes its record.
set -euo pipefail

usage() {
  sed -n '8,9p' "$0" | sed 's/^# \{0,1\}//' >&2
  echo "node.sh: $1" >&2
  exit 2
}

node_id="${LOADTEST_NODE_ID:-}"
run_id="${LOADTEST_RUN_ID:-}"
start_at="${LOADTEST_START_AT:-}"
host="${LOADTEST_HOST:-}"
users="${LOADTEST_USERS:-}"
duration="${LOADTEST_DURATION:-}"
out_dir="${LOADTEST_OUT_DIR:-}"
bin="${LOADTEST_BIN:-loadtest}"

while [ $# -gt 0 ]; do
  case "$1" in
    --node-id | --run-id | --start-at | --host | --users | --duration | --out-dir)
      [ $# -ge 2 ] || usage "$1 needs a value"
      case "$1" in
        --node-id) node_id="$2" ;;
        --run-id) run_id="$2" ;;
        --start-at) start_at="$2" ;;
        --host) host="$2" ;;
        --users) users="$2" ;;
        --duration) duration="$2" ;;
        --out-dir) out_dir="$2" ;;
      esac
      shift 2
      ;;
    --) shift; break ;;
    -h | --help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) usage "unknown option $1 (loadtest's own options go after --)" ;;
  esac
done

if [ -z "$node_id" ] && [ -n "${JOB_COMPLETION_INDEX:-}" ]; then
  [[ "$JOB_COMPLETION_INDEX" =~ ^[0-9]+$ ]] || usage "JOB_COMPLETION_INDEX=$JOB_COMPLETION_INDEX is not an index"
  node_id=$((JOB_COMPLETION_INDEX + 1))
fi
for pair in "node-id:$node_id" "run-id:$run_id" "start-at:$start_at" "host:$host" \
  "users:$users" "duration:$duration" "out-dir:$out_dir"; do
  [ -n "${pair#*:}" ] || usage "--${pair%%:*} is missing (or its LOADTEST_ variable)"
done
[[ "$node_id" =~ ^[1-9][0-9]*$ ]] || usage "--node-id $node_id: a node id is 1, 2, ..."
[[ "$users" =~ ^[1-9][0-9]*$ ]] || usage "--users $users: at least one user"
command -v "$bin" >/dev/null 2>&1 || usage "no loadtest binary at '$bin' (set LOADTEST_BIN)"

args=(--host "$host" --run-id "$run_id" --node-id "$node_id" --start-at "$start_at"
  --out-dir "$out_dir" --users "$users" --run-time "$duration" "$@")
echo "node.sh: node $node_id of run $run_id starts at $start_at: $bin ${args[*]}" >&2

# In the background so that a signal to this script (PID 1 in a container)
# reaches loadtest, which then stops the load and writes its record.
"$bin" "${args[@]}" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' TERM
trap 'kill -INT "$pid" 2>/dev/null || true' INT
code=0
wait "$pid" || code=$?
# A trapped signal ends `wait` early: wait again for loadtest's own exit.
while kill -0 "$pid" 2>/dev/null; do
  code=0
  wait "$pid" || code=$?
done

record="$out_dir/$run_id/node-$node_id/summary.json"
if [ -f "$record" ] && { [ "$code" = 0 ] || [ "$code" = 1 ]; }; then
  echo "node.sh: node $node_id wrote $(dirname "$record") (its own exit code $code; the run's verdict is merge's)" >&2
  exit 0
fi
echo "node.sh: node $node_id: loadtest exited $code without a complete record" >&2
exit "$code"
