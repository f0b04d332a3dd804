#!/usr/bin/env bash
# Builds release binaries, starts PostgreSQL, and runs the API benchmark on both backends.
# Extra arguments go to magnum-bench (e.g. --seconds 5 --bays 1000).
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
export MAGNUM_TEST_POSTGRES_URL=$(scripts/start-postgres.sh)
cargo build --release --quiet -p magnum-server -p magnum-bench
exec target/release/magnum-bench "$@"
