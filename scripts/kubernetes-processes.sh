# Sourced by start-kubernetes.sh and stop-kubernetes.sh: where the test control plane lives and
# how its processes are found and stopped (by pid file, checked against the executable).

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
case "$TARGET" in /*) ;; *) TARGET=$PWD/$TARGET ;; esac
CACHE=$TARGET/kubernetes
BIN=$CACHE/bin
STATE=$CACHE/run

# In start order; stopped in reverse.
ALL=(etcd kube-apiserver kube-controller-manager kube-scheduler)
binary_of() { [ "$1" = etcd ] && echo /usr/bin/etcd || echo "$BIN/$1"; }

# The pid of our running NAME, from its pid file (checked against the executable, which may
# have been replaced since: rebuilt or upgraded).
pid_of() {
  local pid exe
  pid=$(cat "$STATE/$1.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  [ "${exe% (deleted)}" = "$(readlink -f "$(binary_of "$1")")" ] || return 1
  echo "$pid"
}

stop_one() {
  local pid
  if pid=$(pid_of "$1"); then
    log "stopping $1 (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 75); do [ -d "/proc/$pid" ] || break; sleep 0.2; done
    if [ -d "/proc/$pid" ]; then
      log "$1 (pid $pid) ignored SIGTERM for 15 s: SIGKILL"
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$STATE/$1.pid"
}

stop_all() { local i; for ((i = ${#ALL[@]} - 1; i >= 0; i--)); do stop_one "${ALL[i]}"; done; }
