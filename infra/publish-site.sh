#!/usr/bin/env bash
# Publishes the site to the stack's private bucket and invalidates in
# CloudFront exactly what changed.
#
#   BUCKET=... DISTRIBUTION_ID=... API_URL=... infra/publish-site.sh
#
# 1. Builds the site: visitor-counter.js, and index.html (its script tag's
#    data-api set to API_URL) at each page of site/pages.txt.
# 2. Compares each file's MD5 with its object's ETag in the bucket (for a
#    single-part upload with SSE-S3, the ETag is the content's MD5), uploads
#    the files that differ, and deletes the objects no page has any more
#    (the bucket is versioned: a deleted or replaced object stays
#    recoverable for 30 days).
# 3. Invalidates those paths only, a page's index.html also as its
#    directory URL (/blog/index.html and /blog/): the first 1,000 paths a
#    month are free, then $0.005 each.
#
# Environment: BUCKET, DISTRIBUTION_ID, API_URL (required); AWS (the CLI,
# default aws); BUILD_DIR (default build/site); PAGES_FILE (default
# site/pages.txt). Prints what it uploaded, deleted and invalidated.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${BUCKET:?BUCKET is required}" "${DISTRIBUTION_ID:?DISTRIBUTION_ID is required}" "${API_URL:?API_URL is required}"
AWS="${AWS:-aws}"
out="${BUILD_DIR:-build/site}"
pages_file="${PAGES_FILE:-site/pages.txt}"

# Checked, not trusted: these end up in a file and in object keys.
if ! [[ "$API_URL" =~ ^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9_-]+)*$ ]]; then
  echo "API_URL $API_URL: expected https://host[/stage]" >&2
  exit 2
fi
pages=()
while IFS= read -r line; do
  line="${line%%#*}"
  line="${line//[[:space:]]/}"
  [ -n "$line" ] || continue
  if ! [[ "$line" =~ ^/([A-Za-z0-9_~-][A-Za-z0-9._~-]*/)*$ ]]; then
    echo "$pages_file: $line is not a page path (/, /blog/, /blog/post/)" >&2
    exit 2
  fi
  pages+=("$line")
done < "$pages_file"
[ "${#pages[@]}" -gt 0 ] || { echo "$pages_file lists no page" >&2; exit 2; }

rm -rf "$out"
mkdir -p "$out"
cp site/visitor-counter.js "$out/"
sed "s#data-api=\"[^\"]*\"#data-api=\"${API_URL}\"#" site/index.html > "$out/index.html"
grep -q "data-api=\"${API_URL}\"" "$out/index.html" || { echo "index.html has no data-api attribute" >&2; exit 1; }
for page in "${pages[@]}"; do
  [ "$page" = / ] && continue
  mkdir -p "$out$page"
  cp "$out/index.html" "$out${page}index.html"
done

# What the bucket holds: key -> ETag (quotes removed).
declare -A remote=()
listing=$("$AWS" s3api list-objects-v2 --bucket "$BUCKET" --query 'Contents[].[Key,ETag]' --output text)
while IFS=$'\t' read -r key etag; do
  if [ -z "$key" ] || [ "$key" = None ]; then continue; fi
  remote["$key"]="${etag//\"/}"
done <<< "$listing"

changed=()
declare -A local_keys=()
while IFS= read -r file; do
  key="${file#"$out"/}"
  local_keys["$key"]=1
  sum=$(md5sum "$file" | cut -d' ' -f1)
  [ "${remote[$key]:-}" = "$sum" ] && continue
  case "$key" in
    *.html) type="text/html; charset=utf-8" ;;
    *.js) type="text/javascript; charset=utf-8" ;;
    *) type="application/octet-stream" ;;
  esac
  "$AWS" s3 cp "$file" "s3://$BUCKET/$key" --content-type "$type" --cache-control "max-age=300" --only-show-errors
  echo "uploaded $key"
  changed+=("$key")
done < <(find "$out" -type f | sort)

for key in "${!remote[@]}"; do
  [ -n "${local_keys[$key]:-}" ] && continue
  "$AWS" s3 rm "s3://$BUCKET/$key" --only-show-errors
  echo "deleted $key"
  changed+=("$key")
done

paths=()
for key in "${changed[@]}"; do
  paths+=("/$key")
  case "$key" in
    index.html) paths+=("/") ;;
    */index.html) paths+=("/${key%index.html}") ;;
  esac
done
if [ "${#paths[@]}" -eq 0 ]; then
  echo "nothing changed: no invalidation"
  exit 0
fi
"$AWS" cloudfront create-invalidation --distribution-id "$DISTRIBUTION_ID" --paths "${paths[@]}" >/dev/null
echo "invalidated ${#paths[@]} paths: ${paths[*]}"
