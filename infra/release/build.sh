#!/usr/bin/env bash
# Builds one platform's release artefacts of `loadtest` into OUT (default
# target/release-dist): the PyPI wheel (maturin, bindings "bin", the
# definition in loadtest/pyproject.toml) and a tarball holding the very
# binary the wheel carries, each with a SHA-256 file (`sha256sum -c` and
# `shasum -a 256 -c` read it).
#
#   infra/release/build.sh [--target TRIPLE] [--profile release|dev] [--out DIR]
#
# TRIPLE defaults to this machine's (rustc's host); the release workflow
# (.github/workflows/release.yml) runs this once per platform, and .ci/run
# runs it with --profile dev to test the wheel without a second release
# build. Needs cargo and maturin (MATURIN, else `maturin` on PATH; pinned
# to pyproject.toml's build requirement).
set -euo pipefail
cd "$(dirname "$0")/../.."

target="" profile=release out=target/release-dist
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target="$2"; shift 2 ;;
    --profile) profile="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "usage: $0 [--target TRIPLE] [--profile release|dev] [--out DIR]" >&2; exit 2 ;;
  esac
done
maturin="${MATURIN:-maturin}"
host=$(rustc -vV | sed -n 's/^host: //p')
triple="${target:-$host}"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' loadtest/Cargo.toml | head -1)
want=$(sed -n 's/.*"maturin==\([0-9.]*\)".*/\1/p' loadtest/pyproject.toml)
have=$("$maturin" --version | awk '{print $2}')
if [ "$have" != "$want" ]; then
  echo "maturin $have found, loadtest/pyproject.toml pins $want: pip install maturin==$want" >&2
  exit 1
fi

# The wheel: PyPI-compatible platform tags (on Linux the lowest manylinux
# tag the binary's glibc symbols allow), the binary stripped (pyproject).
wheels=$(mktemp -d)
trap 'rm -rf "$wheels"' EXIT
args=(build --locked --manifest-path loadtest/Cargo.toml --out "$wheels" --compatibility pypi)
if [ "$profile" = release ]; then args+=(--release); else args+=(--profile "$profile"); fi
[ -n "$target" ] && args+=(--target "$target")
"$maturin" "${args[@]}"
wheel=$(ls "$wheels"/*.whl)
mkdir -p "$out"
cp "$wheel" "$out/"
wheel="$out/$(basename "$wheel")"

# The tarball: the binary taken out of the wheel, so both carry the same bytes.
name="loadtest-$version-$triple"
stage="$wheels/$name"
mkdir -p "$stage"
python3 - "$wheel" "$stage/loadtest" <<'EOF'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    [member] = [n for n in z.namelist() if n.endswith(".data/scripts/loadtest")]
    with z.open(member) as src, open(sys.argv[2], "wb") as dst:
        shutil.copyfileobj(src, dst)
EOF
chmod 0755 "$stage/loadtest"
cp loadtest/README.md "$stage/README.md"
tar -C "$wheels" -czf "$out/$name.tar.gz" "$name"

sha256() {
  if command -v sha256sum >/dev/null; then sha256sum "$1"; else shasum -a 256 "$1"; fi
}
for f in "$out/$name.tar.gz" "$wheel"; do
  (cd "$out" && sha256 "$(basename "$f")" > "$(basename "$f").sha256")
done

if [ "$triple" = "$host" ]; then
  "$stage/loadtest" --version
fi
ls -l "$out/$name.tar.gz" "$wheel"
