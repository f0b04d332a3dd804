#!/usr/bin/env bash
# Installs (if missing) Debian's docker.io and busybox-static, and starts dockerd on
# /var/run/docker.sock when no engine answers there. Idempotent. Prints the socket path.
# No registry is ever contacted: images are built locally (magnum-server node-image build).
source "$(dirname "$0")/lib.sh"

SOCK=/var/run/docker.sock
apt_install docker.io busybox-static iptables

engine_answers() { curl -sf --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1; }

if ! engine_answers; then
  log "starting dockerd"
  mkdir -p /var/log
  nohup dockerd --host="unix://$SOCK" >/var/log/magnum-dockerd.log 2>&1 &
  for _ in $(seq 1 100); do
    engine_answers && break
    sleep 0.2
  done
  engine_answers || die "dockerd did not answer on $SOCK; see /var/log/magnum-dockerd.log"
fi
echo "$SOCK"
