#!/usr/bin/env bash
# The emulated AWS stage's throughput against the in-process local stage's,
# the throttle lifted, 16 users each: what --emulate-aws costs in requests a
# second on this machine. See docs/emulated-stage.md "What it costs".
#
#   bench/emulated-stage.sh            # 3 interleaved repetitions of 10 s
#   REPS=5 SECS=20 bench/emulated-stage.sh
#
# Builds `loadtest --release` and the Lambda as it ships (`--profile
# lambda-release`; or set BOOTSTRAP_BIN). Load goes to 127.0.0.1 only. Both
# stages run on the same cores as the generator and DynamoDB Local (nothing
# pinned): the ratio compares the two stages on one machine, not either
# with AWS.
set -euo pipefail

cd "$(dirname "$0")/.."
REPS=${REPS:-3}
SECS=${SECS:-10}
USERS=${USERS:-16}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

target="${CARGO_TARGET_DIR:-target}"
cargo build -q --release -p loadtest
if [ -z "${BOOTSTRAP_BIN:-}" ]; then
  cargo build -q --profile lambda-release -p counter-lambda --bin bootstrap
  BOOTSTRAP_BIN="$target/lambda-release/bootstrap"
fi
export BOOTSTRAP_BIN
cp "$target/release/loadtest" "$WORK/loadtest"

# infra/template.yaml's function (128 MB, 6 s, 50 environments) behind an
# HTTP API whose throttle is lifted.
cat >"$WORK/template.yaml" <<'EOF'
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      StageName: prod
      DefaultRouteSettings: {ThrottlingRateLimit: 100000, ThrottlingBurstLimit: 100000}
  CounterFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: bootstrap
      Runtime: provided.al2023
      MemorySize: 128
      Timeout: 6
      ReservedConcurrentExecutions: 50
      Environment: {Variables: {TABLE_NAME: visitor_count, ALLOWED_ORIGINS: "*"}}
      Events:
        Post: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: POST, Path: /visits}}
        Get: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: GET, Path: /visits}}
EOF

# One run; prints its requests a second (from its summary.json).
run() {
  local name=$1; shift
  "$WORK/loadtest" -q -u "$USERS" -t "$SECS" --out-dir "$WORK/runs" --run-id "$name" "$@" \
    >"$WORK/$name.out" 2>&1 || true
  python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["throughput_rps"], 1))' \
    "$WORK/runs/$name/summary.json"
}

inproc=() emulated=()
for rep in $(seq "$REPS"); do
  a=$(run "inproc-$rep")
  b=$(run "emulated-$rep" --emulate-aws --template "$WORK/template.yaml")
  echo "repetition $rep: in-process $a req/s, emulated $b req/s"
  inproc+=("$a") emulated+=("$b")
done

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
mi=$(median "${inproc[@]}")
me=$(median "${emulated[@]}")
echo "median of $REPS: in-process $mi req/s, emulated $me req/s; emulated / in-process = $(awk -v a="$me" -v b="$mi" 'BEGIN {printf "%.2f", a/b}')"
echo "($USERS users, $SECS s each, $(nproc) cores, $(date -u +%Y-%m-%d))"
