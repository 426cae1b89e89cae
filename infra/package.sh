#!/usr/bin/env bash
# Builds the Lambda's `bootstrap` with the size-tuned `lambda-release` profile (see
# Cargo.toml and ARCHITECTURE.md "Packaging") and zips it as
#   target/lambda/counter-lambda-${arch}.zip
# which infra/template.yaml deploys (CodeUri).
#
# Usage: infra/package.sh [arm64|x86_64]     (default: arm64, what the template runs)
# A native build uses plain cargo; a cross build uses cargo-lambda, which
# links with zig (`pip install cargo-lambda`; infra/deploy-tools.sh build pins it).
set -euo pipefail
cd "$(dirname "$0")/.."

arch="${1:-arm64}"
case "$arch" in
  x86_64) triple=x86_64-unknown-linux-gnu; machine=x86_64 ;;
  arm64) triple=aarch64-unknown-linux-gnu; machine=aarch64 ;;
  *) echo "usage: $0 [arm64|x86_64]" >&2; exit 2 ;;
esac

if [ "$(uname -m)" = "$machine" ]; then
  cargo build --locked --profile lambda-release -p counter-lambda --bin bootstrap --target "$triple"
  bin="target/$triple/lambda-release/bootstrap"
else
  command -v cargo-lambda >/dev/null || { echo "cross-building for $arch needs cargo-lambda: pip install cargo-lambda" >&2; exit 1; }
  rustup target add "$triple" >/dev/null
  cargo lambda build --locked --profile lambda-release -p counter-lambda --bin bootstrap --target "$triple"
  bin="target/lambda/bootstrap/bootstrap"   # where cargo-lambda puts it
fi
out="target/lambda/counter-lambda-${arch}.zip"
mkdir -p target/lambda
python3 - "$bin" "$out" <<'PY'
import sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
info = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))  # reproducible
info.external_attr = 0o755 << 16                                        # executable
info.compress_type = zipfile.ZIP_DEFLATED
with open(src, "rb") as f, zipfile.ZipFile(dst, "w") as z:
    z.writestr(info, f.read())
PY
echo "$out: bootstrap $(stat -c %s "$bin") bytes, zip $(stat -c %s "$out") bytes"
