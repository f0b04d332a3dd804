#!/usr/bin/env bash
# Installs (if missing) Debian's rabbitmq-server and starts it with everything on the loopback:
# AMQP on 127.0.0.1:5672, epmd and Erlang distribution on 127.0.0.1 too. Prints the
# transport URL on stdout. Idempotent: safe to run when RabbitMQ is already up.
#   scripts/start-rabbitmq.sh            start (if not running)
#   scripts/start-rabbitmq.sh restart    stop, then start (the fault tests restart the broker)
source "$(dirname "$0")/lib.sh"
# stdout carries only the result line.
exec 3>&1 1>&2

apt_install rabbitmq-server
# The package's own start (no init system here) must not race ours.
cat >/etc/rabbitmq/rabbitmq-env.conf <<'CONF'
# Written by magnum-rs scripts/start-rabbitmq.sh: a loopback-only broker.
NODENAME=rabbit@localhost
NODE_IP_ADDRESS=127.0.0.1
NODE_PORT=5672
export ERL_EPMD_ADDRESS=127.0.0.1
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
CONF

ctl() { rabbitmqctl -n rabbit@localhost "$@"; }
running() { ctl -q status >/dev/null 2>&1; }

if [ "${1:-}" = restart ] && running; then
  log "stopping RabbitMQ"
  ctl -q stop >/dev/null 2>&1 || true
  for _ in $(seq 1 100); do pgrep -f 'beam.*rabbit' >/dev/null || break; sleep 0.2; done
fi
if ! running; then
  log "starting RabbitMQ on 127.0.0.1:5672"
  mkdir -p /var/log/rabbitmq && chown rabbitmq:rabbitmq /var/log/rabbitmq
  nohup rabbitmq-server >/var/log/magnum-rabbitmq.log 2>&1 3>&- &
  for _ in $(seq 1 150); do
    running && break
    sleep 0.2
  done
  ctl -q await_startup >/dev/null 2>&1 || die "RabbitMQ did not start; see /var/log/magnum-rabbitmq.log and /var/log/rabbitmq/"
fi
echo "amqp://guest:guest@127.0.0.1:5672/%2f" >&3
