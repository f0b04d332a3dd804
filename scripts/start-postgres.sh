#!/usr/bin/env bash
# Installs (if missing) and starts PostgreSQL 15 on 127.0.0.1, creates the role and database
# the tests and benchmarks use, and prints the connection URL on stdout.
#   scripts/start-postgres.sh          cluster 15/main on port 5432, database magnum_test
#   scripts/start-postgres.sh faults   cluster 15/faults on port 5433, database magnum_faults:
#                                      the fault tests stop and start it, so it is its own
# Idempotent: safe to run when PostgreSQL is already up.
source "$(dirname "$0")/lib.sh"
# stdout carries only the result line: everything the tools print goes to stderr
# (pg_ctlcluster, for one, prints "Removed stale pid file." on stdout).
exec 3>&1 1>&2

PG_VERSION=15
CLUSTER=${1:-main}
case "$CLUSTER" in
  main) PORT=5432; DB_NAME=${MAGNUM_PG_DB:-magnum_test} ;;
  faults) PORT=5433; DB_NAME=magnum_faults ;;
  *) die "unknown cluster $CLUSTER: use main or faults" ;;
esac
DB_USER=${MAGNUM_PG_USER:-magnum}
DB_PASS=${MAGNUM_PG_PASSWORD:-magnum}

apt_install postgresql-$PG_VERSION postgresql-client-$PG_VERSION

if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$PG_VERSION $CLUSTER$"; then
  log "creating PostgreSQL cluster $PG_VERSION/$CLUSTER on port $PORT"
  pg_createcluster $PG_VERSION "$CLUSTER" --port "$PORT" >/dev/null
fi
if ! pg_lsclusters -h | grep -q "^$PG_VERSION *$CLUSTER .* online"; then
  log "starting PostgreSQL $PG_VERSION/$CLUSTER"
  pg_ctlcluster $PG_VERSION "$CLUSTER" start 3>&-  # the server must not hold our stdout open
fi
for _ in $(seq 1 50); do
  pg_isready -q -h 127.0.0.1 -p "$PORT" && break
  sleep 0.2
done
pg_isready -q -h 127.0.0.1 -p "$PORT" || die "PostgreSQL did not become ready on 127.0.0.1:$PORT"

psql_admin() { su postgres -c "psql -p $PORT -v ON_ERROR_STOP=1 -qtAc \"$1\""; }
if [ "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname='$DB_USER'")" != "1" ]; then
  psql_admin "CREATE ROLE $DB_USER LOGIN PASSWORD '$DB_PASS' CREATEDB"
fi
if [ "$(psql_admin "SELECT 1 FROM pg_database WHERE datname='$DB_NAME'")" != "1" ]; then
  psql_admin "CREATE DATABASE $DB_NAME OWNER $DB_USER"
fi
echo "postgres://$DB_USER:$DB_PASS@127.0.0.1:$PORT/$DB_NAME" >&3
