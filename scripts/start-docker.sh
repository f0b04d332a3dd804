#!/usr/bin/env bash
# Installs (if missing) Debian's docker.io, busybox-static and openssl, and makes sure dockerd
# serves both the local socket /var/run/docker.sock and, for the remote-engine tests,
# tcp://127.0.0.1:2376 with TLS (certificates made here, under $ENGINE_TLS_DIR). Idempotent.
# No registry is ever contacted: images are built locally (magnum-server node-image build).
source "$(dirname "$0")/lib.sh"
# stdout carries only the result line: everything the tools print goes to stderr
# (pg_ctlcluster, for one, prints "Removed stale pid file." on stdout).
exec 3>&1 1>&2

SOCK=/var/run/docker.sock
ENGINE_TLS_DIR=${MAGNUM_ENGINE_TLS_DIR:-/var/lib/magnum-rs/engine-tls}
apt_install docker.io containerd runc tini iproute2 iptables busybox-static openssl

make_tls() {
  [ -s "$ENGINE_TLS_DIR/client-key.pem" ] && return 0
  log "making TLS certificates for the engine's TCP endpoint in $ENGINE_TLS_DIR"
  mkdir -p "$ENGINE_TLS_DIR" && chmod 700 "$ENGINE_TLS_DIR" && cd "$ENGINE_TLS_DIR"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 3650 -subj /CN=magnum-rs-test-engine-ca 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout server-key.pem -out server.csr -subj /CN=127.0.0.1 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out server-cert.pem -days 3650 -extfile server.ext 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout client-key.pem -out client.csr -subj /CN=magnum-conductor 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' > client.ext
  openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out client-cert.pem -days 3650 -extfile client.ext 2>/dev/null
  cd - >/dev/null
}

socket_answers() { curl -sf --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1; }
tls_answers() {
  curl -sf --cacert "$ENGINE_TLS_DIR/ca.pem" --cert "$ENGINE_TLS_DIR/client-cert.pem" --key "$ENGINE_TLS_DIR/client-key.pem" \
    https://127.0.0.1:2376/_ping >/dev/null 2>&1
}

make_tls
if ! socket_answers || ! tls_answers; then
  if pgrep -x dockerd >/dev/null; then
    log "restarting dockerd to add its TLS endpoint on 127.0.0.1:2376"
    pkill -x dockerd || true
    for _ in $(seq 1 100); do pgrep -x dockerd >/dev/null || break; sleep 0.2; done
  fi
  log "starting dockerd"
  nohup dockerd --host="unix://$SOCK" --host=tcp://127.0.0.1:2376 --tlsverify \
    --tlscacert="$ENGINE_TLS_DIR/ca.pem" --tlscert="$ENGINE_TLS_DIR/server-cert.pem" --tlskey="$ENGINE_TLS_DIR/server-key.pem" \
    >/var/log/magnum-dockerd.log 2>&1 3>&- &
  for _ in $(seq 1 100); do
    socket_answers && tls_answers && break
    sleep 0.2
  done
  socket_answers || die "dockerd did not answer on $SOCK; see /var/log/magnum-dockerd.log"
  tls_answers || die "dockerd did not answer on https://127.0.0.1:2376; see /var/log/magnum-dockerd.log"
fi
echo "$ENGINE_TLS_DIR" >&3
