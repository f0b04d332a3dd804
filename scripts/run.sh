#!/usr/bin/env bash
# The all-in-one service for a newcomer: starts the Docker engine if none answers, builds the
# bay node images from this host's packages, then runs `magnum-server all` (extra arguments
# are passed on, e.g. --bind 127.0.0.1:9600 or --data-dir DIR).
#
# Swarm bays are available at once. The Kubernetes node image needs Kubernetes built from
# Debian's source package first (scripts/build-kubernetes.sh: about 10 minutes on 2 cores, once):
# that build runs in the background beside the service, its progress lines prefixed with
# [kubernetes image], and the service says "being built" to Kubernetes templates and bays until
# it is done; then Kubernetes bays are available too.
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
scripts/start-docker.sh >/dev/null
log "compiling magnum-server (release)"
cargo build --release --quiet -p magnum-server
SERVER=target/release/magnum-server
$SERVER node-image build
KUBERNETES_IMAGE=magnum/kubernetes-node:v1.20.2
if ! docker image inspect "$KUBERNETES_IMAGE" >/dev/null 2>&1; then
  log "building $KUBERNETES_IMAGE in the background (about 10 minutes, once); the service starts now"
  (
    bin=$(scripts/build-kubernetes.sh) && $SERVER node-image build --kubernetes-bin "$bin" \
      && log "$KUBERNETES_IMAGE is built: Kubernetes bays are available"
  ) > >(sed -u 's/^/[kubernetes image] /' >&2) 2>&1 &
  # Conductors of this data directory tell templates naming the image that it is being built.
  $SERVER node-image announce-build --image "$KUBERNETES_IMAGE" --pid $! "$@"
fi
exec $SERVER all "$@"
