#!/usr/bin/env bash
# Load generators side by side on one minimal target, and loadtest's memory
# per recorded request. See README "Performance".
#
#   bench/generators.sh            # 3 interleaved repetitions of 15 s, 16 connections,
#                                  # over plain HTTP and over TLS
#   QUICK=1 bench/generators.sh    # a smoke run: 1 repetition of 3 s, small memory runs
#   bench/generators.sh speed      # only the generators; `memory` only the memory runs
#
# Env: REPS, SECS, CONNS override the figures above; MODES="plain tls" (the
# default) or one of them. Load goes to 127.0.0.1 only.
#
# TLS: the script makes a CA and a certificate for 127.0.0.1 (openssl, EC
# P-256); the target serves it through rustls. wrk does not verify
# certificates; bare goose trusts the CA through SSL_CERT_FILE (reqwest's
# rustls honours it), loadtest through --cacert.
#
# A shell script rather than an xtask binary: the work is starting and
# pinning other programs (wrk, taskset, /usr/bin/time, apt-get) and reading
# their output; the Rust parts (the target, bare goose) are examples of the
# loadtest crate, built by cargo like everything else.
#
# The same observer for every generator: the target's own count for the
# generator's path, read at 2 s into the run and 1 s before its end, so
# start-up and shut-down are out of every figure alike.
set -euo pipefail

cd "$(dirname "$0")/.."
WHAT=${1:-all}
if [[ ${QUICK:-0} == 1 ]]; then
    REPS=${REPS:-1} SECS=${SECS:-4} MEM_SMALL=20000 MEM_LARGE=200000
else
    REPS=${REPS:-3} SECS=${SECS:-15} MEM_SMALL=100000 MEM_LARGE=1000000
fi
CONNS=${CONNS:-16}
MODES=${MODES:-plain tls}
WORK=$(mktemp -d)
TARGET_PIDS=()
cleanup() {
    for pid in "${TARGET_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

if ! command -v wrk >/dev/null; then
    echo "installing wrk (Debian package)" >&2
    if [[ $(id -u) != 0 ]]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get install -y wrk >/dev/null 2>&1 \
        || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y wrk >/dev/null; }
fi

cargo build --release -q -p loadtest --bin loadtest --example bench_target --example bare_goose
BIN=${CARGO_TARGET_DIR:-target}/release

# Target on core 0, generators on core 1, when there are two cores.
if (($(nproc) >= 2)); then
    PIN_TARGET=(taskset -c 0) PIN_GEN=(taskset -c 1) PINNING="target on core 0, generator on core 1"
else
    PIN_TARGET=() PIN_GEN=() PINNING="one core: target and generator share it (figures are not comparable)"
fi

# Starts a target (extra arguments: --tls CERT KEY) and sets variable $1 to its URL.
start_target() {
    local var=$1 url=
    shift
    local out="$WORK/target-$var.out"
    "${PIN_TARGET[@]}" "$BIN/examples/bench_target" 0 "$@" >"$out" &
    TARGET_PIDS+=($!)
    for _ in $(seq 100); do
        url=$(head -n1 "$out" 2>/dev/null || true)
        [[ -n $url ]] && break
        sleep 0.05
    done
    [[ $url == http://127.0.0.1:* || $url == https://127.0.0.1:* ]] \
        || { echo "the target did not start on 127.0.0.1: $url" >&2; exit 1; }
    printf -v "$var" '%s' "$url"
}

# A CA and a certificate it signed for 127.0.0.1 (EC P-256, two days).
make_certificates() {
    local d=$WORK/tls
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=bench-ca -addext basicConstraints=critical,CA:TRUE \
        -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
        -keyout "$d/key.pem" -out "$d/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\n' >"$d/ext"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -days 2 -extfile "$d/ext" -out "$d/cert.pem" 2>/dev/null
    CA=$d/ca.pem
}

start_target URL_plain
CA=
if [[ $MODES == *tls* ]]; then
    make_certificates
    start_target URL_tls --tls "$WORK/tls/cert.pem" "$WORK/tls/key.pem"
fi
URL=$URL_plain
CURL_TLS=()

# Points count(), wrk and the generators at the target of mode $1.
use_mode() {
    if [[ $1 == tls ]]; then
        URL=$URL_tls CURL_TLS=(--cacert "$CA") GOOSE_ENV=(SSL_CERT_FILE="$CA") LOADTEST_TLS=(--cacert "$CA")
    else
        URL=$URL_plain CURL_TLS=() GOOSE_ENV=() LOADTEST_TLS=()
    fi
}

count() { # the target's count for a path (already percent-encoded)
    curl -s "${CURL_TLS[@]}" "$URL/visits?path=$1" | jq -r .count
}
now() { date +%s.%N; }

# Runs "$@" pinned as a generator, sampling the target's count of path $1
# (encoded) at 2 s and at SECS-1 s. Prints "req/s cpu%" on stdout.
measure() {
    local path=$1; shift
    /usr/bin/time -f "%U %S %e %M" -o "$WORK/time" "${PIN_GEN[@]}" "$@" >"$WORK/gen.out" 2>&1 &
    local pid=$! t0 c0 t1 c1
    sleep 2
    t0=$(now) c0=$(count "$path")
    sleep $((SECS - 3))
    t1=$(now) c1=$(count "$path")
    if ! wait "$pid"; then
        echo "generator failed: $*" >&2
        tail -n 20 "$WORK/gen.out" >&2
        return 1
    fi
    local user sys wall total
    read -r user sys wall _ <"$WORK/time"
    total=$(count "$path")
    awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v u="$user" -v s="$sys" -v w="$wall" -v n="$total" \
        'BEGIN { printf "%.0f %.0f %.0f\n", (c1 - c0) / (t1 - t0), 100 * (u + s) / w, n / (u + s) }'
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

cat >"$WORK/post.lua" <<'EOF'
wrk.method = "POST"
EOF

# One mode's generators, interleaved: wrk, bare goose, loadtest in turn.
speed_mode() {
    local mode=$1
    use_mode "$mode"
    echo "== $mode: $URL"
    : >"$WORK/results-$mode"
    for rep in $(seq "$REPS"); do
        local p rps cpu eff
        p="%2Fbench%2Fwrk-$mode-$rep"
        read -r rps cpu eff < <(measure "$p" wrk -t1 -c"$CONNS" -d"${SECS}s" -s "$WORK/post.lua" "$URL/visits?path=$p")
        echo "wrk $rps $cpu $eff" | tee -a "$WORK/results-$mode"
        p="%2Fbench%2Fgoose-$mode-$rep"
        read -r rps cpu eff < <(measure "$p" env "${GOOSE_ENV[@]}" BENCH_PATH="/bench/goose-$mode-$rep" \
            "$BIN/examples/bare_goose" --host "$URL" -u "$CONNS" -r "$CONNS" -t "$SECS" --no-reset-metrics -q)
        echo "bare-goose $rps $cpu $eff" | tee -a "$WORK/results-$mode"
        p="%2F__loadtest%2Fbench-$mode-$rep"
        read -r rps cpu eff < <(measure "$p" "$BIN/loadtest" --host "$URL" "${LOADTEST_TLS[@]}" \
            -u "$CONNS" -r "$CONNS" -t "$SECS" --max-requests 100000000 --run-id "bench-$mode-$rep" \
            --out-dir "$WORK/runs" -q)
        local summary="$WORK/runs/bench-$mode-$rep/summary.json" verdict recorded
        verdict=$(jq -r 'if .passed then "PASS" else "FAIL" end' "$summary")
        recorded=$(jq -r .requests.total "$summary")
        echo "loadtest $rps $cpu $eff ($verdict, $recorded requests recorded)" | tee -a "$WORK/results-$mode"
        [[ $verdict == PASS ]] || { echo "loadtest's verdict was not PASS" >&2; exit 1; }
    done
}

# The medians of one mode's results, as ratios to wrk and to bare goose.
table() {
    local results="$WORK/results-$1"
    local wrk_rps goose_rps wrk_eff goose_eff
    wrk_rps=$(awk '$1 == "wrk" { print $2 }' "$results" | median)
    goose_rps=$(awk '$1 == "bare-goose" { print $2 }' "$results" | median)
    wrk_eff=$(awk '$1 == "wrk" { print $4 }' "$results" | median)
    goose_eff=$(awk '$1 == "bare-goose" { print $4 }' "$results" | median)
    echo "medians, $1:"
    printf "%-12s %9s %6s %7s %9s %10s %7s %9s\n" generator "req/s" "CPU %" "x wrk" "x goose" "req/CPU-s" "x wrk" "x goose"
    for g in wrk bare-goose loadtest; do
        local rps cpu eff
        rps=$(awk -v g="$g" '$1 == g { print $2 }' "$results" | median)
        cpu=$(awk -v g="$g" '$1 == g { print $3 }' "$results" | median)
        eff=$(awk -v g="$g" '$1 == g { print $4 }' "$results" | median)
        awk -v g="$g" -v r="$rps" -v c="$cpu" -v w="$wrk_rps" -v b="$goose_rps" -v e="$eff" -v we="$wrk_eff" -v be="$goose_eff" \
            'BEGIN { printf "%-12s %9.0f %6.0f %7.2f %9.2f %10.0f %7.2f %9.2f\n", g, r, c, r / w, r / b, e, e / we, e / be }'
    done
}

speed() {
    echo "Generators: $CONNS connections, ${SECS} s each, $REPS interleaved repetition(s); $PINNING."
    echo "(req/s: the target's count between 2 s and $((SECS - 1)) s; CPU: the generator's whole run, % of one core;"
    echo " req/CPU-s: all its requests / its user+sys CPU seconds, the figure a shared machine disturbs least)"
    for mode in $MODES; do speed_mode "$mode"; done
    echo
    for mode in $MODES; do table "$mode"; echo; done
}

# Max RSS of loadtest at two request counts: the growth per extra request
# is what recording and judging one costs (the records, the checker's
# working memory at the end, and anything else that grows with the run).
memory() {
    local rss=()
    for n in "$MEM_SMALL" "$MEM_LARGE"; do
        /usr/bin/time -f "%M" -o "$WORK/time" "${PIN_GEN[@]}" "$BIN/loadtest" --host "$URL_plain" \
            -u "$CONNS" -r "$CONNS" -t 600 --max-requests "$n" --run-id "mem-$n" \
            --out-dir "$WORK/runs" -q >/dev/null 2>&1
        local recorded verdict
        recorded=$(jq -r .requests.total "$WORK/runs/mem-$n/summary.json")
        verdict=$(jq -r 'if .passed then "PASS" else "FAIL" end' "$WORK/runs/mem-$n/summary.json")
        rss+=("$(cat "$WORK/time")")
        echo "loadtest --max-requests $n: $recorded recorded ($verdict), max RSS ${rss[-1]} KiB"
        [[ $recorded == "$n" && $verdict == PASS ]] || { echo "not every request recorded, or not PASS" >&2; exit 1; }
    done
    awk -v a="${rss[0]}" -v b="${rss[1]}" -v n1="$MEM_SMALL" -v n2="$MEM_LARGE" \
        'BEGIN { printf "memory: %.1f bytes per recorded request (max RSS growth between %d and %d)\n", (b - a) * 1024 / (n2 - n1), n1, n2 }'
}

case $WHAT in
    speed) speed ;;
    memory) memory ;;
    all) speed; echo; memory ;;
    *) echo "usage: $0 [all|speed|memory]" >&2; exit 2 ;;
esac
