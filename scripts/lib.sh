# Shared helpers for the project's scripts. Source it; do not run it.
set -Eeuo pipefail

log() { printf '\033[1m[magnum-rs]\033[0m %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# No step ends a run silently: a command that fails under `set -e` (functions and subshells
# included, through -E) names itself, its exit code and where it stood.
magnum_on_error() {
  local status=$1 line=$2 command=$3
  log "ERROR: \`$command\` failed (exit $status) at ${BASH_SOURCE[1]:-$0}:$line"
}
trap 'magnum_on_error $? $LINENO "$BASH_COMMAND"' ERR

# apt-get install only what is missing; `apt-get update` once per run.
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "need root to install ${missing[*]} (apt-get)"
  if [ -z "${MAGNUM_APT_UPDATED:-}" ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
    export MAGNUM_APT_UPDATED=1
  fi
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# A database URL with its password hidden.
magnum_redact() { sed -E 's#(://[^:/]+):[^@]*@#\1:***@#' <<<"$1"; }
