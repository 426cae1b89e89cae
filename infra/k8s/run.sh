#!/usr/bin/env bash
# One multi-node load run on Kubernetes, start to verdict:
#
#   HOST=https://<api-id>.execute-api.<region>.amazonaws.com/prod \
#   IMAGE=<registry>/loadtest:<tag> NODES=3 USERS=16 DURATION=60 infra/k8s/run.sh
#
# writes the ConfigMap `loadtest-run` (run id, a common start instant
# START_LEAD_S ahead, the stage, the users, the duration, the thresholds),
# starts the Indexed Job of NODES generator pods, waits for it, runs the
# merge Job, prints its report and exits with its result: 0 pass, 1 the
# verdict, a threshold or a node failed, 2 bad settings.
#
# Settings (environment): HOST, IMAGE (required); NODES 3, USERS 16 (per
# node), DURATION 60 (goose's run time), START_LEAD_S 120 (room to
# schedule the pods and pull the image), MAX_P99_MS 1000 (empty: none),
# MAX_ERROR_RATE 0.01, MIN_OK 100, SKEW_MS 50, RUN_ID (default k8s-<time>),
# NAMESPACE (kubectl's default); STORAGE pvc (the shared claim of pvc.yaml)
# or s3 (the s3/ manifests; RESULTS_BUCKET required, a private bucket).
set -euo pipefail
cd "$(dirname "$0")"

fail() { echo "run.sh: $1" >&2; exit 2; }
: "${HOST:?HOST: the stage URL (ApiUrl in the stack outputs)}"
: "${IMAGE:?IMAGE: the loadtest image (infra/k8s/Dockerfile), where the cluster pulls from}"
NODES=${NODES:-3}
USERS=${USERS:-16}
DURATION=${DURATION:-60}
START_LEAD_S=${START_LEAD_S:-120}
MAX_P99_MS=${MAX_P99_MS-1000}
MAX_ERROR_RATE=${MAX_ERROR_RATE:-0.01}
MIN_OK=${MIN_OK:-100}
SKEW_MS=${SKEW_MS:-50}
STORAGE=${STORAGE:-pvc}
RUN_ID=${RUN_ID:-k8s-$(date -u +%Y%m%dT%H%M%SZ)}
within() { [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }
within "$NODES" 1 500 || fail "NODES=$NODES: 1 to 500"
within "$USERS" 1 100000 || fail "USERS=$USERS: at least 1"
within "$START_LEAD_S" 10 3000 || fail "START_LEAD_S=$START_LEAD_S: 10 to 3000"
case "$HOST" in http://* | https://*) ;; *) fail "HOST=$HOST: an http(s) URL" ;; esac
case "$STORAGE" in
  pvc) manifests=. ;;
  s3) manifests=s3; : "${RESULTS_BUCKET:?RESULTS_BUCKET: a private bucket for the run directories}" ;;
  *) fail "STORAGE=$STORAGE: pvc or s3" ;;
esac
k=(kubectl ${NAMESPACE:+--namespace "$NAMESPACE"})

# The Jobs have fixed names: the previous run's go first.
"${k[@]}" delete job loadtest-nodes loadtest-merge --ignore-not-found --wait=true
if [ "$STORAGE" = pvc ]; then
  "${k[@]}" apply -f pvc.yaml
else
  "${k[@]}" apply -f s3/serviceaccount.yaml
fi

# Unix seconds: the same instant for every pod, whatever its time zone.
start_at=$(($(date +%s) + START_LEAD_S))
"${k[@]}" create configmap loadtest-run --dry-run=client -o yaml \
  --from-literal=LOADTEST_RUN_ID="$RUN_ID" \
  --from-literal=LOADTEST_START_AT="$start_at" \
  --from-literal=LOADTEST_HOST="$HOST" \
  --from-literal=LOADTEST_USERS="$USERS" \
  --from-literal=LOADTEST_DURATION="$DURATION" \
  --from-literal=LOADTEST_NODES="$NODES" \
  --from-literal=MAX_P99_MS="$MAX_P99_MS" \
  --from-literal=MAX_ERROR_RATE="$MAX_ERROR_RATE" \
  --from-literal=MIN_OK="$MIN_OK" \
  --from-literal=SKEW_MS="$SKEW_MS" \
  --from-literal=RESULTS_BUCKET="${RESULTS_BUCKET:-}" |
  "${k[@]}" apply -f -

image() { sed -e "s|image: loadtest:dev|image: $IMAGE|" "$1"; }
image "$manifests/nodes-job.yaml" |
  sed -e "s|^  completions: 3$|  completions: $NODES|" -e "s|^  parallelism: 3$|  parallelism: $NODES|" |
  "${k[@]}" apply -f -
echo "run.sh: run $RUN_ID, $NODES nodes x $USERS users against $HOST, starting at $(date -u -d "@$start_at" +%FT%TZ 2>/dev/null || echo "$start_at")"

# Polls a Job until it completes or fails, within a bound; prints the outcome.
wait_job() {
  local name=$1 deadline=$(($(date +%s) + $2)) state
  while [ "$(date +%s)" -lt "$deadline" ]; do
    state=$("${k[@]}" get job "$name" -o jsonpath='{.status.conditions[?(@.status=="True")].type}')
    case " $state " in
      *" Complete "*) echo complete; return ;;
      *" Failed "*) echo failed; return ;;
    esac
    sleep 5
  done
  echo "timed out"
}
nodes=$(wait_job loadtest-nodes $((START_LEAD_S + 3600)))
echo "run.sh: nodes $nodes (logs: kubectl logs -l app.kubernetes.io/component=node --tail=30)"

image "$manifests/merge-job.yaml" | "${k[@]}" apply -f -
merge=$(wait_job loadtest-merge 900)
"${k[@]}" logs job/loadtest-merge -c merge || true
echo "run.sh: merge $merge; the merged run: $([ "$STORAGE" = pvc ] && echo "$RUN_ID/merged on the claim loadtest-runs" || echo "s3://$RESULTS_BUCKET/loadtest-runs/$RUN_ID/merged/")"
[ "$nodes" = complete ] && [ "$merge" = complete ]
