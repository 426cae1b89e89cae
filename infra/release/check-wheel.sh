#!/usr/bin/env bash
# Installs a built wheel as a user would and judges a counter with it:
# a fresh venv, a fresh HOME, no pip cache, a PATH without Rust; then
# `loadtest --version`, and a short run with --host against a stand-in
# counter on 127.0.0.1 (infra/release/standin_counter.py), which must be
# PASS, and against the same counter made racy, which must be FAIL. Prints
# the time from `pip install` to the first verdict.
#
#   infra/release/check-wheel.sh WHEEL
#
# Used by .ci/run (with a dev-profile wheel) and by hand on a release wheel.
set -euo pipefail
cd "$(dirname "$0")/../.."

wheel=$(realpath "${1:?usage: $0 WHEEL}")
counter=$(realpath infra/release/standin_counter.py)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' loadtest/Cargo.toml | head -1)
work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/home" "$work/runs"

fail() { echo "check-wheel: $*" >&2; exit 1; }

# What the user has: python3 and the system's directories, nothing of ours.
python=$(command -v python3)
# (An array, not a function: `"${clean[@]}" cmd &` makes $! cmd's own pid.)
clean=(env -i HOME="$work/home" PATH="$work/venv/bin:/usr/local/bin:/usr/bin:/bin"
  LANG=C.UTF-8 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1)
"${clean[@]}" sh -c '! command -v cargo && ! command -v rustc' >/dev/null ||
  fail "cargo or rustc is on the clean PATH"
"$python" -m venv "$work/venv"

# From here on, timed: what `pipx install` and a first run cost a user.
now() { "$python" -c 'import time; print(time.time())'; }
start=$(now)
"${clean[@]}" pip install --quiet --no-index "$wheel"
[ "$("${clean[@]}" sh -c 'command -v loadtest')" = "$work/venv/bin/loadtest" ] ||
  fail "the wheel did not put loadtest on the venv's PATH"
v=$("${clean[@]}" loadtest --version)
echo "$v"
case "$v" in
  "loadtest $version (commit "*", local stage built in; goose "*) ;;
  *) fail "--version says: $v" ;;
esac

# Starts the stand-in counter (with its flags) and sets $port.
start_counter() {
  rm -f "$work/port"
  "${clean[@]}" "$python" "$counter" "$work/port" "$@" &
  server=$!
  for _ in $(seq 100); do
    [ -s "$work/port" ] && break
    kill -0 "$server" 2>/dev/null || fail "the stand-in counter exited"
    sleep 0.05
  done
  port=$(cat "$work/port") || fail "the stand-in counter did not start"
}
stop_counter() { kill "$server"; wait "$server" 2>/dev/null || true; server=""; }

# Runs loadtest against the counter (bounded); sets $code and $verdict.
judge() {
  code=0
  (cd "$work" && "${clean[@]}" loadtest --host "http://127.0.0.1:$port" --run-id "$1" \
    --out-dir "$work/runs" -u 4 -t 3 --max-duration 60 --max-requests 50000) \
    > "$work/$1.txt" 2>&1 || code=$?
  verdict=$(grep -m1 '^VERDICT: ' "$work/$1.txt" | awk '{print $2}')
}

start_counter
judge atomic
stop_counter
end=$(now)
if [ "$code" != 0 ] || [ "$verdict" != PASS ]; then
  cat "$work/atomic.txt"; fail "an atomic counter was judged ${verdict:-nothing} (exit $code), not PASS"
fi
grep -E '^(VERDICT|Requests):' "$work/atomic.txt"
[ -f "$work/runs/atomic/summary.json" ] || fail "no summary.json in the run directory"

start_counter --racy
judge racy
stop_counter
if [ "$code" != 1 ] || [ "$verdict" != FAIL ]; then
  cat "$work/racy.txt"; fail "a racy counter was judged ${verdict:-nothing} (exit $code), not FAIL"
fi
grep -E '^(VERDICT|Requests):' "$work/racy.txt"

written=$(find "$work/home" -mindepth 1 | head -5)
[ -z "$written" ] || fail "the installed loadtest wrote to HOME: $written"

awk -v name="$(basename "$wheel")" -v size="$(wc -c < "$wheel")" -v s="$start" -v e="$end" \
  'BEGIN { printf "wheel %s: %.1f MB; pip install to the first verdict: %.1f s\n", name, size / 1e6, e - s }'
echo "check-wheel: installed with no Rust, PASS on an atomic counter, FAIL on a racy one"
