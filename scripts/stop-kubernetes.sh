#!/usr/bin/env bash
# Stops what scripts/start-kubernetes.sh started (kube-scheduler, kube-controller-manager,
# kube-apiserver, etcd), by their pid files in $TARGET/kubernetes/run; a pid is signalled only
# when it still runs the executable the start script launched. Keeps certificates and etcd's data:
# the next start picks them up again. Idempotent.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kubernetes-processes.sh"
stop_all
