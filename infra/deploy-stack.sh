#!/usr/bin/env bash
# Deploys (creates or updates) one stack of infra/template.yaml with SAM,
# then prints its outputs as key=value lines on stdout (SAM's own output
# goes to stderr), for a workflow's $GITHUB_OUTPUT:
#   api, site, origin, bucket, distribution
#
# Environment (the workflow passes everything this way, never in the
# command line it runs):
#   STACK             the stack's name (required)
#   ALLOWED_PATHS     the pages counted, comma-separated (required)
#   TABLE_NAME        default visitor_count; a staging stack passes its own
#   LOADTEST_KEYS     enabled|disabled (default disabled)
#   SITE_ORIGIN       the origin whose pages may count; default: the stack's
#                     own SiteUrl (on the very first deploy, when the stack
#                     has none yet, it deploys once without, then again)
#   PER_CLIENT_LIMIT  requests to /visits per client IP in 5 minutes (0: off)
#   BUDGET_EMAIL      where the budget alarm writes (empty: no budget)
#   THROTTLE_RATE_LIMIT, THROTTLE_BURST_LIMIT, RESERVED_CONCURRENCY
#                     optional overrides (keep them agreeing: see the template)
#   SAM, AWS          the CLIs (default: sam and aws on PATH)
set -euo pipefail
cd "$(dirname "$0")/.."

: "${STACK:?STACK is required}" "${ALLOWED_PATHS:?ALLOWED_PATHS is required}"
SAM="${SAM:-sam}"
AWS="${AWS:-aws}"
case "${PER_CLIENT_LIMIT:-0}" in
  '' | *[!0-9]*) echo "PER_CLIENT_LIMIT must be a whole number, not ${PER_CLIENT_LIMIT}" >&2; exit 2 ;;
esac
# CloudFront's web ACLs can only be created in us-east-1.
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
if [ "${PER_CLIENT_LIMIT:-0}" != 0 ] && [ "$region" != us-east-1 ]; then
  echo "PER_CLIENT_LIMIT needs the stack in us-east-1 (CloudFront's web ACLs live there), not '${region}'" >&2
  exit 2
fi

# One output of the stack, or nothing when the stack (or the output) does
# not exist yet.
output() {
  local value
  value=$("$AWS" cloudformation describe-stacks --stack-name "$STACK" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text 2>/dev/null) || value=""
  [ "$value" = None ] && value=""
  printf '%s' "$value"
}

deploy() { # allowed origin (may be empty: no browser page counts)
  local params=(
    "StageName=prod"
    "TableName=${TABLE_NAME:-visitor_count}"
    "AllowedPaths=$ALLOWED_PATHS"
    "LoadTestKeys=${LOADTEST_KEYS:-disabled}"
    "PerClientLimit=${PER_CLIENT_LIMIT:-0}"
  )
  # Empty values are left to the template's defaults (both empty).
  [ -z "$1" ] || params+=("AllowedOrigin=$1")
  [ -z "${BUDGET_EMAIL:-}" ] || params+=("BudgetEmail=$BUDGET_EMAIL")
  [ -z "${THROTTLE_RATE_LIMIT:-}" ] || params+=("ThrottleRateLimit=$THROTTLE_RATE_LIMIT")
  [ -z "${THROTTLE_BURST_LIMIT:-}" ] || params+=("ThrottleBurstLimit=$THROTTLE_BURST_LIMIT")
  [ -z "${RESERVED_CONCURRENCY:-}" ] || params+=("ReservedConcurrency=$RESERVED_CONCURRENCY")
  "$SAM" deploy \
    --template-file infra/template.yaml \
    --stack-name "$STACK" \
    --capabilities CAPABILITY_IAM \
    --resolve-s3 \
    --no-fail-on-empty-changeset \
    --parameter-overrides "${params[@]}" >&2
}

origin="${SITE_ORIGIN:-}"
[ -n "$origin" ] || origin=$(output SiteUrl)
deploy "$origin"
site=$(output SiteUrl)
if [ -z "$origin" ]; then
  # The first deploy: the distribution's address exists only now.
  echo "first deploy of $STACK: deploying again with AllowedOrigin=$site" >&2
  origin="$site"
  deploy "$origin"
fi

echo "api=$(output ApiUrl)"
echo "site=$site"
echo "origin=$origin"
echo "bucket=$(output SiteBucketName)"
echo "distribution=$(output DistributionId)"
