#!/usr/bin/env bash
# Starts a real Kubernetes 1.20 control plane on 127.0.0.1 for the tests, built only from
# Debian's packages, and prints the path of an admin kubeconfig on stdout. Idempotent: when
# the API server of an earlier run still answers with our CA, it is reused.
#
#   etcd                     Debian's etcd-server, client 127.0.0.1:23790, peer 127.0.0.1:23800
#   kube-apiserver           https://127.0.0.1:6443 (no insecure port), RBAC, services 10.96.0.0/16
#   kube-controller-manager  secure port 127.0.0.1:10257, no insecure port
#   kube-scheduler           secure port 127.0.0.1:10259, no insecure port
# No kubelet: pods are stored (and replication controllers create theirs) but stay Pending.
#
# The binaries come from scripts/build-kubernetes.sh (built once from Debian bookworm's
# `kubernetes` source package, fetched through apt; about 9 minutes on 2 cores), in
# $TARGET/kubernetes/bin.
#
# Everything else lives in $STATE = $TARGET/kubernetes/run, where TARGET=${CARGO_TARGET_DIR:-target}
# (so `cargo clean` removes the binaries and the state too: stop the servers first):
#   ca.pem ca-key.pem                          the CA (also signs CSRs, for the controller-manager)
#   apiserver.pem apiserver-key.pem            serving cert: 127.0.0.1, localhost, kubernetes.*, 10.96.0.1
#   admin.pem admin-key.pem                    client cert CN=magnum-admin, O=system:masters
#   controller-manager.pem/-key.pem, scheduler.pem/-key.pem   the components' client certs
#   sa.pub sa-key.pem                          service-account token key pair
#   tokens.csv                                 --token-auth-file; admin.token holds the bearer token
#                                              of user magnum-token (group system:masters), no newline
#   admin.kubeconfig                           certificates embedded; what this script prints
#   controller-manager.kubeconfig scheduler.kubeconfig
#   etcd/ (data)  logs/<component>.log (each start overwrites)  <component>.pid  flexvolume/
# A missing CA (or service-account key) makes a new cluster: etcd's data goes with it.
# Keys are PKCS#8 PEM (RSA 2048); certificates X.509 v3 with SANs. scripts/stop-kubernetes.sh
# stops the processes.
source "$(dirname "$0")/lib.sh"
# stdout carries only the result line: everything the tools print goes to stderr.
exec 3>&1 1>&2

source "$(dirname "$0")/kubernetes-processes.sh"
LOGS=$STATE/logs
TIMEOUT=${MAGNUM_KUBERNETES_TIMEOUT:-120}

K8S_VERSION=1.20.2

API_PORT=6443
API_URL=https://127.0.0.1:$API_PORT
ETCD_CLIENT_PORT=23790
ETCD_PEER_PORT=23800
ETCD_URL=http://127.0.0.1:$ETCD_CLIENT_PORT
SERVICE_CIDR=10.96.0.0/16
SERVICE_FIRST_IP=10.96.0.1

apt_install etcd-server openssl curl iproute2
umask 077
mkdir -p "$CACHE"
# One run at a time (a build or a start in progress is waited for). The daemons must not
# inherit this descriptor, or they would hold the lock forever.
exec 9>"$CACHE/.lock"
flock 9

# The binaries (built once; a build in progress is waited for).
BUILT=$("$(dirname "$0")/build-kubernetes.sh" 3>&-)
[ "$BUILT" = "$BIN" ] || die "build-kubernetes.sh printed [$BUILT], expected $BIN"

# ---------------------------------------------------------------------------------------------
# Our processes, known by their pid files (pid_of, stop_one, stop_all: kubernetes-processes.sh).

# Running, and the current binary (an old one is restarted).
alive() {
  local pid
  pid=$(pid_of "$1") && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$(binary_of "$1")")" ]
}

# ---------------------------------------------------------------------------------------------
# Certificates, keys, token, kubeconfigs (made once; a new CA makes a new cluster).

mkdir -p "$STATE" "$LOGS"
REGENERATED=
new_key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; }

make_ca() {
  [ -s "$STATE/ca.pem" ] && [ -s "$STATE/ca-key.pem" ] && return 0
  # A new CA makes a new cluster: what was signed by, or handed out with, an earlier one goes,
  # service-account keys and etcd's data (token secrets carrying the old ca.crt) included.
  stop_all
  rm -rf "$STATE"/{apiserver,admin,controller-manager,scheduler}{.pem,-key.pem} "$STATE"/*.kubeconfig \
    "$STATE/sa-key.pem" "$STATE/sa.pub" "$STATE/etcd"
  log "making the test Kubernetes CA and certificates in $STATE"
  new_key "$STATE/ca-key.pem"
  cat >"$STATE/ca.cnf" <<'CNF'
[req]
distinguished_name = dn
x509_extensions = v3_ca
prompt = no
[dn]
CN = magnum-rs test Kubernetes CA
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
CNF
  openssl req -x509 -new -sha256 -days 3650 -key "$STATE/ca-key.pem" -config "$STATE/ca.cnf" \
    -set_serial "0x$(openssl rand -hex 16)" -out "$STATE/ca.pem" 2>/dev/null
  rm -f "$STATE/ca.cnf"
  REGENERATED=1
}

# leaf NAME SUBJECT EXTENDED_KEY_USAGE [SUBJECT_ALT_NAME]
leaf() {
  local name=$1 subject=$2 eku=$3 san=${4:-}
  [ -s "$STATE/$name.pem" ] && [ -s "$STATE/$name-key.pem" ] && return 0
  new_key "$STATE/$name-key.pem"
  openssl req -new -sha256 -key "$STATE/$name-key.pem" -subj "$subject" -out "$STATE/$name.csr" 2>/dev/null
  {
    echo "basicConstraints = critical, CA:FALSE"
    echo "keyUsage = critical, digitalSignature, keyEncipherment"
    echo "extendedKeyUsage = $eku"
    echo "subjectKeyIdentifier = hash"
    echo "authorityKeyIdentifier = keyid"
    if [ -n "$san" ]; then echo "subjectAltName = $san"; fi
  } >"$STATE/$name.ext"
  openssl x509 -req -sha256 -days 3650 -in "$STATE/$name.csr" -CA "$STATE/ca.pem" -CAkey "$STATE/ca-key.pem" \
    -set_serial "0x$(openssl rand -hex 16)" -extfile "$STATE/$name.ext" -out "$STATE/$name.pem" 2>/dev/null
  rm -f "$STATE/$name.csr" "$STATE/$name.ext"
  REGENERATED=1
}

# kubeconfig NAME: $STATE/NAME.kubeconfig for the client cert NAME.pem, everything embedded.
kubeconfig() {
  local name=$1 out=$STATE/$1.kubeconfig
  [ -s "$out" ] && return 0
  cat >"$out.tmp" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: magnum-test
  cluster:
    server: $API_URL
    certificate-authority-data: $(base64 -w0 "$STATE/ca.pem")
users:
- name: $name
  user:
    client-certificate-data: $(base64 -w0 "$STATE/$name.pem")
    client-key-data: $(base64 -w0 "$STATE/$name-key.pem")
contexts:
- name: $name@magnum-test
  context:
    cluster: magnum-test
    user: $name
    namespace: default
current-context: $name@magnum-test
preferences: {}
YAML
  mv "$out.tmp" "$out"
}

make_ca
leaf apiserver /CN=kube-apiserver serverAuth \
  "IP:127.0.0.1, IP:$SERVICE_FIRST_IP, DNS:localhost, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local"
leaf admin "/O=system:masters/CN=magnum-admin" clientAuth
leaf controller-manager /CN=system:kube-controller-manager clientAuth
leaf scheduler /CN=system:kube-scheduler clientAuth
chmod 644 "$STATE"/{ca,apiserver,admin,controller-manager,scheduler}.pem
if [ ! -s "$STATE/sa-key.pem" ] || [ ! -s "$STATE/sa.pub" ]; then
  # Tokens already stored were signed with the key that is gone: a new cluster.
  if [ -d "$STATE/etcd" ]; then stop_all; rm -rf "$STATE/etcd"; fi
  new_key "$STATE/sa-key.pem"
  openssl pkey -in "$STATE/sa-key.pem" -pubout -out "$STATE/sa.pub"
  REGENERATED=1
fi
if [ ! -s "$STATE/admin.token" ] || [ ! -s "$STATE/tokens.csv" ]; then
  token=$(openssl rand -hex 32)
  printf '%s,magnum-token,magnum-token,system:masters\n' "$token" >"$STATE/tokens.csv"
  printf '%s' "$token" >"$STATE/admin.token"
  chmod 600 "$STATE/tokens.csv" "$STATE/admin.token"
  REGENERATED=1
fi
for name in admin controller-manager scheduler; do kubeconfig "$name"; done

# ---------------------------------------------------------------------------------------------
# The processes.

# start NAME ARGS...: detached, in its own session, log in $LOGS/NAME.log.
start() {
  local name=$1 binary
  binary=$(binary_of "$1")
  shift
  stop_one "$name"  # one that runs a replaced binary
  log "starting $name (log: $LOGS/$name.log)"
  setsid sh -c 'echo $$ >"$0"; exec "$@"' "$STATE/$name.pid" "$binary" "$@" \
    </dev/null >"$LOGS/$name.log" 2>&1 3>&- 9>&- &
  for _ in $(seq 1 50); do [ -s "$STATE/$name.pid" ] && break; sleep 0.1; done
}

port_taken() { ss -Hltn "sport = :$1" | grep -q .; }
need_free_port() {
  port_taken "$1" || return 0
  die "port 127.0.0.1:$1 (for $2) is taken by a process that is not this script's: $(ss -Hltnp "sport = :$1" | head -1)"
}

curl_admin() {
  curl -sf --max-time 5 --cacert "$STATE/ca.pem" --cert "$STATE/admin.pem" --key "$STATE/admin-key.pem" "$API_URL$1"
}
etcd_healthy() { curl -sf --max-time 3 "$ETCD_URL/health" 2>/dev/null | grep -q '"health":"true"'; }
api_ready() { [ "$(curl_admin /readyz 2>/dev/null)" = ok ]; }
# The controller-manager's token controller has given the default service account its token:
# until then the ServiceAccount admission plugin refuses pods.
default_sa_ready() {
  curl_admin /api/v1/namespaces/default/serviceaccounts/default 2>/dev/null | grep -q '"secrets"'
}

tail_log() { log "last lines of $LOGS/$1.log:"; tail -n 15 "$LOGS/$1.log" >&2 2>/dev/null || true; }
# wait_for WHAT LOG_COMPONENT CHECK...: until CHECK succeeds, before the deadline.
wait_for() {
  local what=$1 component=$2 c
  shift 2
  until "$@"; do
    for c in etcd kube-apiserver kube-controller-manager kube-scheduler; do
      if [ -n "${STARTED[$c]:-}" ] && ! alive "$c"; then
        tail_log "$c"
        die "$c exited while waiting for $what; read $LOGS/$c.log"
      fi
    done
    if [ "$SECONDS" -ge "$DEADLINE" ]; then
      tail_log "$component"
      die "timed out after ${TIMEOUT}s waiting for $what; read $LOGS/$component.log"
    fi
    sleep 0.5
  done
}

if [ -z "$REGENERATED" ] && alive etcd && alive kube-apiserver && alive kube-controller-manager \
  && alive kube-scheduler && api_ready && default_sa_ready; then
  log "Kubernetes $K8S_VERSION already running at $API_URL (reused)"
  echo "$STATE/admin.kubeconfig" >&3
  exit 0
fi
if [ -n "$REGENERATED" ]; then
  # New certificates or keys: whatever of ours still runs uses the old ones.
  stop_all
fi

declare -A STARTED=()
DEADLINE=$((SECONDS + TIMEOUT))

if ! { alive etcd && etcd_healthy; }; then
  stop_one etcd
  need_free_port $ETCD_CLIENT_PORT etcd
  need_free_port $ETCD_PEER_PORT etcd
  start etcd --name magnum-rs-test --data-dir "$STATE/etcd" \
    --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "magnum-rs-test=http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster-token magnum-rs-test --initial-cluster-state new
  STARTED[etcd]=1
  wait_for "etcd on $ETCD_URL" etcd etcd_healthy
fi

# --endpoint-reconciler-type=none: the endpoints of the `kubernetes` service would be
# 127.0.0.1, which Endpoints validation refuses (loopback), an error logged every 10 s.
# The service itself (10.96.0.1) is still made.
if ! { alive kube-apiserver && api_ready; }; then
  stop_one kube-apiserver
  need_free_port $API_PORT kube-apiserver
  start kube-apiserver \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port=$API_PORT --insecure-port=0 \
    --etcd-servers="$ETCD_URL" \
    --client-ca-file="$STATE/ca.pem" \
    --tls-cert-file="$STATE/apiserver.pem" --tls-private-key-file="$STATE/apiserver-key.pem" \
    --cert-dir="$STATE/apiserver-certs" \
    --service-account-key-file="$STATE/sa.pub" \
    --service-account-signing-key-file="$STATE/sa-key.pem" \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-cluster-ip-range=$SERVICE_CIDR \
    --authorization-mode=Node,RBAC \
    --token-auth-file="$STATE/tokens.csv" \
    --allow-privileged=true \
    --endpoint-reconciler-type=none \
    --profiling=false
  STARTED[kube-apiserver]=1
fi
wait_for "$API_URL/readyz" kube-apiserver api_ready

# No --authentication-kubeconfig/--authorization-kubeconfig for the two components: their own
# secure ports then serve only /healthz (enough here), instead of logging, over and over, that
# the API server publishes no front-proxy (requestheader) CA. The flexvolume directory is
# kept in $STATE: by default the controller-manager creates /usr/libexec/kubernetes/...
if ! alive kube-controller-manager; then
  start kube-controller-manager \
    --bind-address=127.0.0.1 --secure-port=10257 --port=0 \
    --kubeconfig="$STATE/controller-manager.kubeconfig" \
    --flex-volume-plugin-dir="$STATE/flexvolume" \
    --leader-elect=false \
    --service-account-private-key-file="$STATE/sa-key.pem" \
    --root-ca-file="$STATE/ca.pem" \
    --use-service-account-credentials=true \
    --cluster-signing-cert-file="$STATE/ca.pem" --cluster-signing-key-file="$STATE/ca-key.pem" \
    --service-cluster-ip-range=$SERVICE_CIDR \
    --profiling=false
  STARTED[kube-controller-manager]=1
fi
if ! alive kube-scheduler; then
  start kube-scheduler \
    --bind-address=127.0.0.1 --secure-port=10259 --port=0 \
    --kubeconfig="$STATE/scheduler.kubeconfig" \
    --leader-elect=false \
    --profiling=false
  STARTED[kube-scheduler]=1
fi
wait_for "the default service account's token in namespace default" kube-controller-manager default_sa_ready

log "Kubernetes $K8S_VERSION ready at $API_URL"
echo "$STATE/admin.kubeconfig" >&3
