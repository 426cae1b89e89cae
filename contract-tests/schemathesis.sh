#!/usr/bin/env bash
# Schemathesis against the contract: requests generated from openapi.yaml
# (positive and negative), every check, every phase (examples, coverage,
# fuzzing, stateful through the contract's links), a bounded number of
# examples per operation. Exit status: Schemathesis's (0 = no failure).
#
#   contract-tests/schemathesis.sh                # local stage, every path allowed
#   contract-tests/schemathesis.sh --allow-list   # local stage with ALLOWED_PATHS
#   CONTRACT_BASE_URL=https://.../prod contract-tests/schemathesis.sh
#                                                 # a real stage: paths below /__contract/
#   CONTRACT_STAGE=emulated contract-tests/schemathesis.sh
#                                                 # the stage shaped like AWS (local-stage
#                                                 # --emulate-aws: the template's HTTP API,
#                                                 # BOOTSTRAP_BIN in Lambda environments)
#
# Environment:
#   ST               the Schemathesis CLI (default: target/ci-tools/bin/st, as .ci/run installs it)
#   ST_MAX_EXAMPLES  examples per operation and phase (default 100)
#   ST_SEED          a seed, to replay a run (default: random, printed)
#   ST_REPORT_DIR    where the JUnit report goes (default: target/schemathesis/<mode>)
#   ALLOWED_PATHS    with --allow-list (default "/,/blog/*"); against a real stage, its allow-list
#   ALLOWED_ORIGINS  the origins the stage allows (the local stage here: https://site.example);
#                    against a real stage, its AllowedOrigin (unset: none, so any Origin may be refused)
#   CONTRACT_BASE_URL  a deployed stage instead of the local one; ST_PATH_PREFIX
#                    (default /__contract/st-<time>) keeps the generated pages there
#   ST_RATE_LIMIT    against a real stage, e.g. 20/s (default), below its throttle;
#                    against the emulated one 150/s (default), below the template's
#   ST_ONLY_VISITS   true: the stage's address serves only /visits (the API behind the
#                    site's distribution): the unknown-route operation is not tested
#   CONTRACT_STAGE   emulated: the local stage shaped like AWS instead of the in-process one
set -euo pipefail
cd "$(dirname "$0")/.."

mode=all-paths
case "${1:-}" in
  "") ;;
  --allow-list) mode=allow-list ;;
  *) echo "usage: $0 [--allow-list]" >&2; exit 2 ;;
esac

target="${CARGO_TARGET_DIR:-target}"
st="${ST:-$target/ci-tools/bin/st}"
if [ ! -x "$st" ]; then
  echo "Schemathesis not found at $st: run .ci/run once, or set ST" >&2
  exit 2
fi
report_dir="${ST_REPORT_DIR:-$target/schemathesis/$mode}"
mkdir -p "$report_dir"
export SCHEMATHESIS_HOOKS=hooks
export PYTHONPATH="$PWD/contract-tests/schemathesis${PYTHONPATH:+:$PYTHONPATH}"
export CONTRACT_FILE="$PWD/openapi.yaml"

extra=()
if [ -n "${CONTRACT_BASE_URL:-}" ]; then
  url="$CONTRACT_BASE_URL"
  export ST_PATH_PREFIX="${ST_PATH_PREFIX:-/__contract/st-$(date +%s)}"
  extra+=(--rate-limit "${ST_RATE_LIMIT:-20/s}")
  if [ "${ST_ONLY_VISITS:-}" = true ]; then
    extra+=(--exclude-operation-id unknownRoute)
  fi
  echo "Schemathesis against $url, pages below $ST_PATH_PREFIX"
else
  if [ "$mode" = allow-list ]; then
    export ALLOWED_PATHS="${ALLOWED_PATHS:-/,/blog/*}"
  else
    export ALLOWED_PATHS=""
  fi
  # One allowed origin, so the generated Origin headers meet the 403.
  export ALLOWED_ORIGINS="${ALLOWED_ORIGINS:-https://site.example}"
  # The local stage: generous DynamoDB timeouts, so a slow moment of
  # DynamoDB Local on a busy machine is not a 503 (the 503s are tested
  # elsewhere, on purpose).
  cargo build -q --locked -p local-stage
  log="$report_dir/local-stage.log"
  if [ "${CONTRACT_STAGE:-}" = emulated ]; then
    # The same variables, given to the function in its environments.
    # The template's routes other than POST /visits are throttled at 5/s
    # (a deployed stage's junk bill): lifted here, as a deploy's
    # --parameter-overrides would, so the generated requests are the
    # contract's answers, not API Gateway's 429s. The page's origin is the
    # template's AllowedOrigin, as deploy-stack.sh sets it.
    "$target/debug/local-stage" --emulate-aws --template infra/template.yaml \
      --parameter OtherRoutesRateLimit=10000 --parameter OtherRoutesBurstLimit=5000 \
      --parameter ThrottleRateLimit=10000 --parameter ThrottleBurstLimit=5000 \
      --parameter "AllowedOrigin=$ALLOWED_ORIGINS" \
      --function-env "ALLOWED_PATHS=$ALLOWED_PATHS" \
      --function-env DYNAMODB_ATTEMPT_TIMEOUT_MS=15000 \
      --function-env DYNAMODB_OPERATION_TIMEOUT_MS=30000 \
      --log-dir "$report_dir/emulated-stage" >"$log" 2>&1 &
    extra+=(--rate-limit "${ST_RATE_LIMIT:-150/s}")
  else
    LOCAL_STAGE_PORT=0 \
      DYNAMODB_ATTEMPT_TIMEOUT_MS=15000 DYNAMODB_OPERATION_TIMEOUT_MS=30000 \
      "$target/debug/local-stage" >"$log" 2>&1 &
  fi
  stage_pid=$!
  # Ctrl-C is how the stage stops cleanly (it stops DynamoDB Local too).
  trap 'kill -INT "$stage_pid" 2>/dev/null || true; wait "$stage_pid" 2>/dev/null || true' EXIT
  url=""
  for _ in $(seq 1 240); do
    url=$(sed -n 's/^Local stage: //p; s/^Emulated AWS stage: //p' "$log")
    [ -n "$url" ] && break
    kill -0 "$stage_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.5
  done
  [ -n "$url" ] || { echo "the local stage did not start within 120 s" >&2; cat "$log" >&2; exit 1; }
  echo "Schemathesis against the local stage $url (ALLOWED_PATHS='${ALLOWED_PATHS}' ALLOWED_ORIGINS='${ALLOWED_ORIGINS}')"
fi

seed=()
[ -n "${ST_SEED:-}" ] && seed=(--seed "$ST_SEED")

"$st" --config-file contract-tests/schemathesis/schemathesis.toml run openapi.yaml \
  --url "$url" \
  --checks all \
  --mode all \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "${ST_MAX_EXAMPLES:-100}" \
  --request-timeout 30 \
  --report junit --report-dir "$report_dir" \
  "${seed[@]}" "${extra[@]}"
