#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this).
# Starts what the tests need (PostgreSQL 15, RabbitMQ, Keystone and a Kubernetes API server on
# 127.0.0.1, a Docker engine on /var/run/docker.sock), then: rustfmt, clippy, every test.
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

PG_URL=$(scripts/start-postgres.sh)
[[ $PG_URL =~ ^postgres://[^[:space:]]+$ ]] || die "start-postgres.sh printed no usable URL: [$PG_URL]"
# A second cluster, which the fault tests stop and start under a running API.
export MAGNUM_TEST_FAULT_POSTGRES_URL=$(scripts/start-postgres.sh faults)
export MAGNUM_TEST_ENGINE_TLS_DIR=$(scripts/start-docker.sh)
AMQP_URL=$(scripts/start-rabbitmq.sh)
[[ $AMQP_URL =~ ^amqp:// ]] || die "start-rabbitmq.sh printed no usable URL: [$AMQP_URL]"
export MAGNUM_TEST_AMQP_URL="$AMQP_URL"
# Keystone on 127.0.0.1:5000 with the security suite's projects and users.
export MAGNUM_TEST_KEYSTONE_URL=$(scripts/start-keystone.sh)
[[ $MAGNUM_TEST_KEYSTONE_URL =~ ^http:// ]] || die "start-keystone.sh printed no usable URL: [$MAGNUM_TEST_KEYSTONE_URL]"
# A real Kubernetes API server (kube-apiserver, controller-manager and scheduler built from
# Debian's kubernetes source package by build-kubernetes.sh, etcd from Debian) on 127.0.0.1:6443,
# for kubernetes_* (the external-bay tests).
export MAGNUM_TEST_KUBECONFIG=$(scripts/start-kubernetes.sh)
[ -f "$MAGNUM_TEST_KUBECONFIG" ] || die "start-kubernetes.sh printed no kubeconfig path: [$MAGNUM_TEST_KUBECONFIG]"
# The same build's node binaries (kubelet, kube-proxy, kubectl, pause), from which the Kubernetes
# bay tests build the Kubernetes node image (docker_kubernetes_*).
export MAGNUM_TEST_KUBERNETES_BIN=$(scripts/build-kubernetes.sh)
[ -x "$MAGNUM_TEST_KUBERNETES_BIN/kubelet" ] || die "build-kubernetes.sh printed no binaries directory: [$MAGNUM_TEST_KUBERNETES_BIN]"
# Queues of earlier runs' tests (each test declares its own). A fresh broker has none: every
# clean-up step here must succeed when there is nothing to clean.
{ rabbitmqctl -n rabbit@localhost -q list_queues name 2>/dev/null || true; } | { grep -E '^magnum-test-' || true; } \
  | while read -r q; do
    rabbitmqctl -n rabbit@localhost -q delete_queue "$q" >/dev/null 2>&1 || true
  done
# The real python-magnumclient 3.7.0 (the last with bay-*/baymodel-*), from PyPI, in a venv.
CLIENTS=target/clients/magnumclient-3.7.0
if [ ! -x "$CLIENTS/bin/magnum" ]; then
  log "installing python-magnumclient 3.7.0 into $CLIENTS"
  python3 -m venv "$CLIENTS"
  "$CLIENTS/bin/pip" install -q python-magnumclient==3.7.0
fi
export MAGNUM_TEST_MAGNUMCLIENT="$PWD/$CLIENTS/bin/magnum"
# The current python-magnumclient with python-openstackclient (`openstack coe ...`).
OSC=target/clients/openstackclient
if [ ! -x "$OSC/bin/openstack" ]; then
  log "installing python-openstackclient 10.5.0 and python-magnumclient 5.0.0 into $OSC"
  python3 -m venv "$OSC"
  "$OSC/bin/pip" install -q python-openstackclient==10.5.0 python-magnumclient==5.0.0
fi
export MAGNUM_TEST_OPENSTACK="$PWD/$OSC/bin/openstack"
# Third-party validators for the OpenAPI document and the answers checked against it.
OPENAPI=target/clients/openapi
if [ ! -x "$OPENAPI/bin/python" ] || ! "$OPENAPI/bin/python" -c 'import openapi_spec_validator' 2>/dev/null; then
  log "installing openapi-spec-validator 0.9.0 into $OPENAPI"
  python3 -m venv "$OPENAPI"
  "$OPENAPI/bin/pip" install -q openapi-spec-validator==0.9.0 jsonschema==4.26.0
fi
export MAGNUM_TEST_OPENAPI_PYTHON="$PWD/$OPENAPI/bin/python"
# Schemathesis, the property-based API fuzzer run over every operation of the document.
FUZZER=target/clients/schemathesis
if [ ! -x "$FUZZER/bin/schemathesis" ]; then
  log "installing schemathesis 4.32.5 into $FUZZER"
  python3 -m venv "$FUZZER"
  "$FUZZER/bin/pip" install -q schemathesis==4.32.5
fi
export MAGNUM_TEST_SCHEMATHESIS="$PWD/$FUZZER/bin/schemathesis"
# Debian's Chromium and ChromeDriver, for the dashboard's browser test.
apt_install chromium chromium-driver
export MAGNUM_TEST_CHROMEDRIVER=/usr/bin/chromedriver

# Bays a killed earlier run left behind (everything a bay owns carries this label).
for kind in container network volume; do
  ids=$(docker $kind ls -q $([ $kind = container ] && echo -a) --filter label=org.openstack.magnum.bay 2>/dev/null || true)
  [ -n "$ids" ] && docker $kind rm $([ $kind != network ] && echo -f) $ids >/dev/null 2>&1 || true
done
export MAGNUM_TEST_POSTGRES_URL="$PG_URL"
# Tests that need a service fail (rather than skip) when it is missing.
export MAGNUM_REQUIRE_SERVICES=1

# Databases left by an interrupted earlier run.
su postgres -c "psql -qtAc \"SELECT datname FROM pg_database WHERE datname ~ '^magnum_t_[0-9a-f]{32}$'\"" | while read -r db; do
  [ -z "$db" ] || su postgres -c "psql -qc 'DROP DATABASE IF EXISTS $db WITH (FORCE)'" >/dev/null
done

# CI builds once from scratch: incremental caches would only double the disk the build needs.
[ -n "${CI:-}" ] && export CARGO_INCREMENTAL=0
log "disk free before the build: $(df -h --output=avail . | tail -1 | tr -d ' ')"
log "rustfmt"
cargo fmt --all -- --check
log "clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
# Outside tests nothing may unwrap or expect: a failure there is an error with a cause.
cargo clippy --workspace --lib --bins --quiet -- -D warnings -D clippy::unwrap_used -D clippy::expect_used
log "tests (SQLite and PostgreSQL at $(magnum_redact "$PG_URL"))"
output=$(mktemp /tmp/magnum-test-output.XXXXXX)
# The counts are printed whatever the outcome.
set +e
cargo test --workspace --quiet --no-fail-fast 2>&1 | tee "$output"
status=${PIPESTATUS[0]}
set -e
log "disk free after the tests: $(df -h --output=avail . | tail -1 | tr -d ' '), target/ uses $(du -sh target 2>/dev/null | cut -f1)"
# (A build that fails prints no counts: grep finding nothing must not end the script here.)
passed=$({ grep -Eo '[0-9]+ passed' "$output" || true; } | awk '{s+=$1} END {print s+0}')
failed=$({ grep -Eo '[0-9]+ failed' "$output" || true; } | awk '{s+=$1} END {print s+0}')
echo "$passed passed, $failed failed"
exit "$status"
