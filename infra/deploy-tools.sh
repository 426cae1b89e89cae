#!/usr/bin/env bash
# Installs the deploy's tools at pinned versions, each in a venv of its own
# under target/deploy-tools/ (the workflow runs this before it has any AWS
# credentials), and prints where they are as NAME=path lines.
#
#   infra/deploy-tools.sh build     cargo-lambda (cross-links the arm64 Lambda with zig)
#   infra/deploy-tools.sh deploy    SAM CLI and the AWS CLI
#   infra/deploy-tools.sh judge     the same, and Schemathesis (the version .ci/run pins)
#
# Versions are pinned here and nowhere else; their own dependencies come
# from PyPI at install time, within the ranges these versions declare.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LAMBDA_VERSION=1.9.2
SAM_CLI_VERSION=1.170.0
AWS_CLI_VERSION=1.46.3
SCHEMATHESIS_VERSION=4.32.5

dir=target/deploy-tools
venv() { # name package==version
  if [ ! -x "$dir/$1/bin/python" ]; then
    python3 -m venv "$dir/$1"
  fi
  "$dir/$1/bin/pip" install -q "$2" >&2
}

case "${1:-}" in
  build)
    venv cargo-lambda "cargo-lambda==$CARGO_LAMBDA_VERSION"
    echo "CARGO_LAMBDA_BIN=$PWD/$dir/cargo-lambda/bin"
    ;;
  deploy | judge)
    venv sam "aws-sam-cli==$SAM_CLI_VERSION"
    venv aws "awscli==$AWS_CLI_VERSION"
    echo "SAM=$PWD/$dir/sam/bin/sam"
    echo "AWS=$PWD/$dir/aws/bin/aws"
    if [ "$1" = judge ]; then
      venv st "schemathesis==$SCHEMATHESIS_VERSION"
      echo "ST=$PWD/$dir/st/bin/st"
    fi
    ;;
  *)
    echo "usage: $0 build|deploy|judge" >&2
    exit 2
    ;;
esac
