#!/usr/bin/env bash
# Stops what scripts/start-kubernetes.sh started (kube-scheduler, kube-controller-manager,
# kube-apiserver, etcd), by their pid files in $TARGET/kubernetes/run; a pid is signalled only
# when it still runs the executable the start script launched. Keeps certificates and etcd's data:
# the next start picks them up again. Idempotent.
source "$(dirname "$0")/lib.sh"

REPO=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
case "$TARGET" in /*) ;; *) TARGET=$PWD/$TARGET ;; esac
BIN=$TARGET/kubernetes/bin
STATE=$TARGET/kubernetes/run

binary_of() { [ "$1" = etcd ] && echo /usr/bin/etcd || echo "$BIN/$1"; }
pid_of() {
  local pid exe
  pid=$(cat "$STATE/$1.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  [ "${exe% (deleted)}" = "$(readlink -f "$(binary_of "$1")")" ] || return 1
  echo "$pid"
}

for name in kube-scheduler kube-controller-manager kube-apiserver etcd; do
  if pid=$(pid_of "$name"); then
    log "stopping $name (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 75); do [ -d "/proc/$pid" ] || break; sleep 0.2; done
    if [ -d "/proc/$pid" ]; then
      log "$name (pid $pid) ignored SIGTERM for 15 s: SIGKILL"
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$STATE/$name.pid"
done
