#!/usr/bin/env bash
# Builds Kubernetes 1.20.2 for magnum-rs from Debian bookworm's `kubernetes` source package and
# prints the directory that holds the results on stdout:
#   kube-apiserver kube-controller-manager kube-scheduler   the control plane (masters, and the
#                                                           test API server of start-kubernetes.sh)
#   kubelet kube-proxy kubectl                              every node (and the tests' kubectl)
#   pause                                                   the pod sandbox program (static C)
# Built once into $TARGET/kubernetes/bin (TARGET=${CARGO_TARGET_DIR:-target}); a later run with
# the same inputs only prints the directory. About 9 minutes on 2 cores; progress every 30 s.
#
# The source comes through apt's own source mechanism: deb-src entries made from this machine's
# own apt sources (in a private apt state directory; the system's apt configuration is not
# touched), then `apt-get source --download-only kubernetes`. The upstream tarball is checked
# against its sha256, Debian's own patches (kubectl fixes, CVE-2021-25743) are applied, and:
#   - the vendored github.com/modern-go/reflect2 1.0.1 is replaced by Debian's 1.0.2: built with
#     Go >= 1.18 the old one makes the API server panic on the first object it decodes;
#   - the kubelet's negative OOM score adjustments become 0: a node is a container that cannot
#     hold CAP_SYS_RESOURCE, and a negative oom_score_adj there makes every pod sandbox fail
#     ("can't get final child's PID from pipe"). Pods and the node's daemons keep the kernel's
#     default score instead.
# Set MAGNUM_KUBERNETES_SOURCE_TARBALL to a local copy of the upstream tarball to skip apt.
source "$(dirname "$0")/lib.sh"
exec 3>&1 1>&2

REPO=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
case "$TARGET" in /*) ;; *) TARGET=$PWD/$TARGET ;; esac
CACHE=$TARGET/kubernetes
BIN=$CACHE/bin

K8S_VERSION=1.20.2
SOURCE_PACKAGE=kubernetes
SOURCE_SHA256=b83c0780efb182d928dc63d46488a847f161f04e40a94b96bf5247dd671ecdfc
PROGRAMS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
# What the cached binaries were built from: a change here rebuilds them.
BUILD_ID="$SOURCE_SHA256 debian-patches reflect2-from-debian oom-adj-0 ${PROGRAMS[*]} pause"
REFLECT2=/usr/share/gocode/src/github.com/modern-go/reflect2

mkdir -p "$CACHE"
# One build at a time (a second caller waits for the first and then finds the binaries).
exec 9>"$CACHE/.build-lock"
flock 9

built() {
  local p
  for p in "${PROGRAMS[@]}" pause; do [ -x "$BIN/$p" ] || return 1; done
  [ "$(cat "$BIN/.build-id" 2>/dev/null)" = "$BUILD_ID" ]
}
# What the Kubernetes node image takes from this host besides the binaries built here (etcd, the
# CNI plugins, conntrack for kube-proxy); the container engine comes with start-docker.sh.
apt_install etcd-server containernetworking-plugins conntrack
if built; then
  echo "$BIN" >&3
  exit 0
fi

apt_install golang-go make rsync golang-github-modern-go-reflect2-dev libc6-dev gcc patch xz-utils
rm -rf "$CACHE"/build.*/  # an interrupted earlier build's (we hold the lock)
work=$(mktemp -d "$CACHE/build.XXXXXX")
# Removed however the build ends: the source tree (~1 GB once built) and Go's caches (~1.5 GB).
trap 'rm -rf "$work"' EXIT
log "building Kubernetes $K8S_VERSION (${PROGRAMS[*]}, pause) into $BIN"
log "disk free before the build: $(df -h --output=avail "$CACHE" | tail -1 | tr -d ' ') (it needs about 3 GB while it runs)"

# deb-src entries made from the machine's own deb entries, in an apt state of our own.
fetch_source() {
  local apt=$work/apt
  mkdir -p "$apt/sources.list.d" "$apt/lists/partial" "$apt/cache" "$work/source"
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && sed -E 's/^Types:.*$/Types: deb-src/' "$f" >"$apt/sources.list.d/$(basename "$f")"
  done
  : >"$apt/sources.list"
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && sed -nE 's/^deb[[:space:]]/deb-src /p' "$f" >>"$apt/sources.list"
  done
  local -a opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/sources.list.d"
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o APT::Sandbox::User=root)
  log "reading the source package index (apt-get update with deb-src entries made from this machine's apt sources)"
  apt-get "${opts[@]}" update -qq >/dev/null || die "apt-get update of the deb-src entries failed (see above)"
  log "fetching the $SOURCE_PACKAGE source package (apt-get source --download-only, about 35 MB)"
  (cd "$work/source" && apt-get "${opts[@]}" source --download-only -qq "$SOURCE_PACKAGE" >/dev/null) \
    || die "apt-get source $SOURCE_PACKAGE failed (see above)"
}

tarball=${MAGNUM_KUBERNETES_SOURCE_TARBALL:-}
if [ -z "$tarball" ]; then
  fetch_source
  tarball=$(ls "$work"/source/"${SOURCE_PACKAGE}"_*.orig.tar.gz 2>/dev/null | head -1)
  [ -n "$tarball" ] || die "apt-get source $SOURCE_PACKAGE gave no .orig.tar.gz in $work/source"
fi
echo "$SOURCE_SHA256  $tarball" | sha256sum -c --status || die "$tarball does not have sha256 $SOURCE_SHA256"
log "extracting the source"
tar -xzf "$tarball" -C "$work"
src=$work/kubernetes-$K8S_VERSION
[ -d "$src/vendor" ] || die "$tarball has no kubernetes-$K8S_VERSION/vendor"
debian=$(ls "$work"/source/"${SOURCE_PACKAGE}"_*.debian.tar.xz 2>/dev/null | head -1 || true)
if [ -n "$debian" ]; then
  tar -xJf "$debian" -C "$src"
  while read -r p; do
    [ -n "$p" ] && [ "${p#\#}" = "$p" ] || continue
    log "applying Debian's patch $p"
    patch -s -p1 -d "$src" <"$src/debian/patches/$p" || die "Debian's patch $p does not apply"
  done <"$src/debian/patches/series"
fi

# reflect2 1.0.1 finds types through runtime internals that Go 1.18 changed (see the header).
[ -f "$REFLECT2/go_above_118.go" ] || die "$REFLECT2 is not reflect2 >= 1.0.2"
rm -f "$src/vendor/github.com/modern-go/reflect2/"*.go "$src/vendor/github.com/modern-go/reflect2/"*.s
cp "$REFLECT2/"*.go "$REFLECT2/"*.s "$src/vendor/github.com/modern-go/reflect2/"

# No negative OOM score adjustments (see the header). Each edit is checked: a source that does
# not have the line any more must fail the build, not build a kubelet whose pods cannot start.
zero_oom() {
  local file=$src/$1 pattern=$2
  grep -qE "$pattern" "$file" || die "$1 has no line matching '$pattern': the OOM score patch needs updating"
  sed -i -E "s/($pattern)-99[0-9]/\\10/" "$file"
  grep -qE "${pattern}0\$" "$file" || die "$1: '$pattern' was not set to 0"
}
zero_oom pkg/kubelet/qos/policy.go 'KubeletOOMScoreAdj int = '
zero_oom pkg/kubelet/qos/policy.go 'KubeProxyOOMScoreAdj  int = '
zero_oom pkg/kubelet/qos/policy.go 'guaranteedOOMScoreAdj int = '
zero_oom pkg/kubelet/dockershim/docker_sandbox.go 'defaultSandboxOOMAdj int = '

mkdir -p "$src/.go/src/k8s.io" "$work/home" "$work/gocache"
ln -sfn ../../.. "$src/.go/src/k8s.io/kubernetes"
buildlog=$CACHE/build.log
started=$SECONDS
log "compiling with $(go version | cut -d' ' -f3) (about 9 minutes on 2 cores; log: $buildlog)"
# GOPATH mode with vendor/ (hack/lib sets GO111MODULE=off and its own GOPATH and GOCACHE inside
# the tree): nothing is fetched. The tree is a release archive, so its version comes from
# hack/lib/version.sh, not git; the ceiling keeps git from finding an enclosing repository.
# GOLDFLAGS unset: Kubernetes' default "-s -w" strips the binaries.
targets=""
for p in "${PROGRAMS[@]}"; do targets+="cmd/$p "; done
(cd "$src" && exec env GOPATH="$src/.go" GOCACHE="$work/gocache" HOME="$work/home" CGO_ENABLED=0 \
  GOPROXY=off GOFLAGS= GIT_CEILING_DIRECTORIES="$work" make WHAT="$targets") >"$buildlog" 2>&1 &
make_pid=$!
while kill -0 "$make_pid" 2>/dev/null; do
  for _ in $(seq 1 30); do kill -0 "$make_pid" 2>/dev/null && sleep 1; done
  kill -0 "$make_pid" 2>/dev/null \
    && log "compiling Kubernetes: $((SECONDS - started)) s so far (about 620 s in all on 2 cores): $(tail -c 300 "$buildlog" | tail -1 | cut -c1-100)"
done
wait "$make_pid" || { tail -n 20 "$buildlog" >&2; die "building Kubernetes failed; see $buildlog"; }

rm -rf "$BIN.new" && mkdir -p "$BIN.new"
for p in "${PROGRAMS[@]}"; do
  install -m 755 "$src/_output/bin/$p" "$BIN.new/$p" || die "the build made no $p; see $buildlog"
done
# The pause program as Kubernetes' own build/pause makes it: static, small.
gcc -Os -Wall -Werror -static -DVERSION=v3.2-magnum-rs -o "$BIN.new/pause" "$src/build/pause/linux/pause.c" \
  || die "compiling build/pause/linux/pause.c failed"
strip "$BIN.new/pause"
echo "$BUILD_ID" >"$BIN.new/.build-id"
rm -rf "$BIN" && mv "$BIN.new" "$BIN"
chmod 755 "$CACHE" "$BIN"
log "built in $((SECONDS - started)) s: $("$BIN/kubelet" --version), $(du -sh "$BIN" | cut -f1) in $BIN"
echo "$BIN" >&3
