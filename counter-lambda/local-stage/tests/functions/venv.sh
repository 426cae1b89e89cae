#!/bin/sh
# Makes, once, the Python venv the emulated stage's tests run functions in:
# Lambda's runtime interface client and boto3, every package pinned
# (requirements.txt, installed without resolving: exactly these). The
# tests call it under a lock (several test binaries may ask at once); a
# changed requirements.txt makes it again.
#
#   venv.sh DIR
set -eu
venv=$1
here=$(dirname "$0")
want=$(cat "$here/requirements.txt")
if [ -f "$venv/.ready" ] && [ "$(cat "$venv/.ready")" = "$want" ]; then
  exit 0
fi
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --no-deps -r "$here/requirements.txt"
printf '%s' "$want" >"$venv/.ready"
