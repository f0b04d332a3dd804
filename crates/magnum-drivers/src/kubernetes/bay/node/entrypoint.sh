#!/bin/sh
# Every Kubernetes node of a bay runs this under tini (PID 1 of the node container). The
# conductor writes /etc/magnum/node.env, /etc/magnum/routes and /etc/kubernetes/pki/ before
# the node's first start; everything else follows from them, so a restarted node comes back
# as it was.
#
# node.env: ROLE (master|worker) NODE_NAME NODE_IP POD_CIDR CLUSTER_CIDR SERVICE_CIDR
#           API_SERVER (https://<master>:6443) PAUSE_IMAGE, and NODEGROUP NODE_LABELS NODE_TAINTS
#           (its nodegroup's name, labels and taints; the last two may be empty)
set -eu
. /etc/magnum/node.env
PKI=/etc/kubernetes/pki
LOGS=/var/log/magnum
mkdir -p "$LOGS" /etc/kubernetes /etc/cni/net.d /var/lib/kubelet /var/lib/kubernetes
say() { echo "magnum-node $NODE_NAME: $*"; }

# Mounts a container does not get by default (see DESIGN §3 and reference/kubernetes-nodes.md).
# Volumes that pods mount must propagate into the node's own containers.
mount --make-rshared /
# The node's cgroups (a private cgroup namespace: its own subtree, never the host's) are
# mounted read-only; kubelet and dockerd create cgroups under them.
for d in /sys/fs/cgroup/*; do
  mount -o remount,bind,rw "$d" 2>/dev/null || true
done
# /proc/sys is read-only. Its net/ part belongs to the node's own network namespace (kube-proxy
# and the bridge plugin set values there): made writable. Three global values kubelet insists
# on setting are shown to it already set, from files of the node's own, so the host's values
# never change.
mount --bind /proc/sys/net /proc/sys/net
mount -o remount,bind,rw /proc/sys/net
mkdir -p /run/magnum-sysctl
for kv in vm/overcommit_memory=1 kernel/panic=10 kernel/panic_on_oops=1; do
  key=${kv%%=*} value=${kv#*=} file=/run/magnum-sysctl/$(echo "${kv%%=*}" | tr / _)
  echo "$value" >"$file"
  mount --bind "$file" "/proc/sys/$key"
done
[ -s /etc/machine-id ] || cat /proc/sys/kernel/random/uuid | tr -d - >/etc/machine-id
# No route out of the bay: the node reaches its bay's network (on-link) and the pod ranges
# routes.sh adds, nothing beyond. Service addresses stay routable from the node itself
# (kube-proxy rewrites them only after the route is looked up).
ip route del default 2>/dev/null || true
ip route replace "$SERVICE_CIDR" dev eth0

# supervise NAME COMMAND...: runs it in the background, again 2 s after each exit, its output
# in $LOGS/NAME.log (kept under 20 MB).
supervise() {
  name=$1
  shift
  (
    while :; do
      [ "$(stat -c %s "$LOGS/$name.log" 2>/dev/null || echo 0)" -lt 20000000 ] || : >"$LOGS/$name.log"
      "$@" >>"$LOGS/$name.log" 2>&1 || true
      echo "$(date -u) magnum-node: $name exited; restarting in 2 s" >>"$LOGS/$name.log"
      sleep 2
    done
  ) &
}

# kubeconfig NAME SERVER: /etc/kubernetes/NAME.kubeconfig with $PKI/NAME.pem and its key.
kubeconfig() {
  cat >"/etc/kubernetes/$1.kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: magnum
  cluster: {server: "$2", certificate-authority: $PKI/ca.pem}
users:
- name: $1
  user: {client-certificate: $PKI/$1.pem, client-key: $PKI/$1-key.pem}
contexts:
- name: $1
  context: {cluster: magnum, user: $1}
current-context: $1
KUBECONFIG
}
# The Kubernetes components' own logs: klog writes and caps the file.
klog() { echo "--logtostderr=false --log-file=$LOGS/$1.log --log-file-max-size=20"; }

# The control plane first, on a master: it needs no container engine, and the API server's
# start is what every other component waits for.
if [ "$ROLE" = master ]; then
  kubeconfig controller-manager https://127.0.0.1:6443
  kubeconfig scheduler https://127.0.0.1:6443
  supervise etcd etcd --name "$NODE_NAME" --data-dir /var/lib/etcd \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster "$NODE_NAME=http://127.0.0.1:2380" --initial-cluster-state new
  # shellcheck disable=SC2046
  supervise kube-apiserver kube-apiserver $(klog kube-apiserver) \
    --advertise-address="$NODE_IP" --bind-address=0.0.0.0 --secure-port=6443 --insecure-port=0 \
    --etcd-servers=http://127.0.0.1:2379 \
    --client-ca-file=$PKI/ca.pem --tls-cert-file=$PKI/apiserver.pem --tls-private-key-file=$PKI/apiserver-key.pem \
    --kubelet-client-certificate=$PKI/apiserver-kubelet-client.pem --kubelet-client-key=$PKI/apiserver-kubelet-client-key.pem \
    --kubelet-certificate-authority=$PKI/ca.pem --kubelet-preferred-address-types=InternalIP \
    --service-account-key-file=$PKI/sa.pub --service-account-signing-key-file=$PKI/sa-key.pem \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction,PodSecurityPolicy \
    --allow-privileged=false --cert-dir=/var/lib/kubernetes/apiserver --profiling=false
  TAINTS=node-role.kubernetes.io/master=:NoSchedule
else
  TAINTS=
fi
# The nodegroup's own taints and labels (1.14), after magnum's.
TAINTS="$TAINTS${NODE_TAINTS:+${TAINTS:+,}$NODE_TAINTS}"
LABELS="magnum.openstack.org/role=$ROLE,magnum.openstack.org/nodegroup=${NODEGROUP:-default-$ROLE}${NODE_LABELS:+,$NODE_LABELS}"

# The node's container engine, for kubelet's dockershim. Kubelet and the CNI plugins own the
# networking, so dockerd makes no bridge and no iptables rules. A node killed uncleanly leaves
# pid files behind that would stop dockerd from starting again.
rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
supervise dockerd dockerd --host=unix:///var/run/docker.sock --iptables=false --ip-masq=false --bridge=none \
  --storage-driver=overlay2 --exec-opt native.cgroupdriver=cgroupfs --oom-score-adjust=0
i=0
until docker version >/dev/null 2>&1; do
  i=$((i + 1))
  [ "$i" -lt 600 ] || { say "dockerd did not start: see $LOGS/dockerd.log"; tail -n 20 "$LOGS/dockerd.log"; exit 1; }
  sleep 0.1
done
# Images baked into the node image (the pod sandbox's): there is no registry to pull from.
for archive in /opt/magnum/images/*.tar; do
  name=$(basename "$archive" .tar)
  [ -f "/var/lib/docker/.magnum-loaded-$name" ] && continue
  docker load -q -i "$archive" >/dev/null && touch "/var/lib/docker/.magnum-loaded-$name"
done

# The pod network: a bridge with this node's pod range, and routes to the other nodes' ranges.
cat >/etc/cni/net.d/10-magnum.conflist <<CNI
{
  "cniVersion": "0.4.0",
  "name": "magnum-pods",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
CNI
magnum-routes

# Everything else waits until the API server takes connections: until then none of it can do
# anything but retry, and on a busy machine the API server's start is the bay's critical path
# (kubelet, for one, backs off for up to 7 s between registration attempts).
hostport=${API_SERVER#https://}
i=0
until nc "${hostport%:*}" "${hostport##*:}" </dev/null >/dev/null 2>&1 || [ "$i" -ge 600 ]; do
  i=$((i + 1))
  sleep 0.2
done
if [ "$ROLE" = master ]; then
  # shellcheck disable=SC2046
  supervise kube-controller-manager kube-controller-manager $(klog kube-controller-manager) \
    --kubeconfig=/etc/kubernetes/controller-manager.kubeconfig \
    --bind-address=127.0.0.1 --secure-port=10257 --port=0 --leader-elect=false \
    --tls-cert-file=$PKI/controller-manager-serving.pem --tls-private-key-file=$PKI/controller-manager-serving-key.pem \
    --use-service-account-credentials=true --service-account-private-key-file=$PKI/sa-key.pem \
    --root-ca-file=$PKI/ca.pem --service-cluster-ip-range="$SERVICE_CIDR" --cluster-cidr="$CLUSTER_CIDR" \
    --controllers='*,-csrsigning,-nodeipam' --node-monitor-period=1s --node-monitor-grace-period=20s \
    --flex-volume-plugin-dir=/var/lib/kubernetes/flexvolume --profiling=false
  # shellcheck disable=SC2046
  supervise kube-scheduler kube-scheduler $(klog kube-scheduler) \
    --kubeconfig=/etc/kubernetes/scheduler.kubeconfig \
    --bind-address=127.0.0.1 --secure-port=10259 --port=0 --profiling=false \
    --leader-elect=true --leader-elect-lease-duration=4s --leader-elect-renew-deadline=3s --leader-elect-retry-period=1s \
    --tls-cert-file=$PKI/scheduler-serving.pem --tls-private-key-file=$PKI/scheduler-serving-key.pem
fi
kubeconfig kubelet "$API_SERVER"
kubeconfig kube-proxy "$API_SERVER"
# No registry, no cluster DNS (pods find services through their environment variables), and the
# node's disk is the host's: lenient eviction and image GC. The node's name and address are the
# container's; its certificate (client and serving) names both.
# shellcheck disable=SC2046
supervise kubelet kubelet $(klog kubelet) \
  --kubeconfig=/etc/kubernetes/kubelet.kubeconfig \
  --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" \
  --node-labels="$LABELS" \
  --register-with-taints="$TAINTS" \
  --container-runtime=docker --docker-endpoint=unix:///var/run/docker.sock \
  --pod-infra-container-image="$PAUSE_IMAGE" \
  --network-plugin=cni --cni-bin-dir=/usr/lib/cni --cni-conf-dir=/etc/cni/net.d \
  --cgroup-driver=cgroupfs --fail-swap-on=false --oom-score-adj=0 \
  --anonymous-auth=false --client-ca-file=$PKI/ca.pem --authorization-mode=Webhook \
  --tls-cert-file=$PKI/kubelet.pem --tls-private-key-file=$PKI/kubelet-key.pem --read-only-port=0 \
  --eviction-hard='memory.available<1Mi,nodefs.available<1%,nodefs.inodesFree<1%,imagefs.available<1%' \
  --image-gc-high-threshold=100 --image-gc-low-threshold=99 \
  --node-status-update-frequency=1s --resolv-conf= \
  --volume-plugin-dir=/var/lib/kubelet/volume-plugins
# shellcheck disable=SC2046
supervise kube-proxy kube-proxy $(klog kube-proxy) \
  --kubeconfig=/etc/kubernetes/kube-proxy.kubeconfig --hostname-override="$NODE_NAME" \
  --proxy-mode=iptables --cluster-cidr="$CLUSTER_CIDR" --oom-score-adj=0 \
  --conntrack-max-per-core=0 --conntrack-tcp-timeout-established=0 --conntrack-tcp-timeout-close-wait=0 \
  --metrics-bind-address=127.0.0.1:10249 --healthz-bind-address=127.0.0.1:10256 --profiling=false
say "started ($ROLE, $NODE_IP, pods $POD_CIDR)"
wait
