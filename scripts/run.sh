#!/usr/bin/env bash
# The all-in-one service for a newcomer: starts the Docker engine if none answers, builds the
# bay node images from this host's packages, then runs `magnum-server all` (extra arguments
# are passed on, e.g. --bind 127.0.0.1:9600).
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
scripts/start-docker.sh >/dev/null
cargo build --release --quiet -p magnum-server
target/release/magnum-server node-image build
exec target/release/magnum-server all "$@"
