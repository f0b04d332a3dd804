#!/usr/bin/env bash
# Installs (if missing) Debian's keystone and serves it with uwsgi on 127.0.0.1:5000 (its
# database in the project's PostgreSQL: on SQLite Keystone's own writes lock each other out;
# fernet tokens), bootstrapped with the fixtures the security tests use, and prints the
# identity URL on stdout. Idempotent.
#
# Fixtures (test passwords; this Keystone listens on the loopback only):
#   admin / keystone-admin-test        admin of project "admin" (keystone-manage bootstrap)
#   magnum / magnum-service-test       the service user, admin in project "service"
#   tenant-a: a-member (member), a-reader (reader)   password: tenant-test
#   tenant-b: b-member (member), b-reader (reader)   password: tenant-test
#   service "magnum" of type container-infra, public endpoint http://127.0.0.1:9511/v1
source "$(dirname "$0")/lib.sh"
exec 3>&1 1>&2

URL=http://127.0.0.1:5000/v3
apt_install keystone uwsgi-core uwsgi-plugin-python3 python3-psycopg2
"$(dirname "$0")/start-postgres.sh" >/dev/null
psql_admin() { su postgres -c "psql -p 5432 -v ON_ERROR_STOP=1 -qtAc \"$1\""; }
if [ "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname='keystone'")" != "1" ]; then
  psql_admin "CREATE ROLE keystone LOGIN PASSWORD 'keystone-db-test'"
fi
if [ "$(psql_admin "SELECT 1 FROM pg_database WHERE datname='keystone'")" != "1" ]; then
  psql_admin "CREATE DATABASE keystone OWNER keystone"
fi

cat >/etc/keystone/keystone.conf <<'CONF'
# Written by magnum-rs scripts/start-keystone.sh: a loopback Keystone for tests.
[DEFAULT]
log_dir = /var/log/keystone
log_file = keystone.log
[database]
connection = postgresql+psycopg2://keystone:keystone-db-test@127.0.0.1:5432/keystone
[token]
provider = fernet
expiration = 3600
CONF
mkdir -p /var/log/keystone /var/lib/keystone && chown -R keystone:keystone /var/log/keystone /var/lib/keystone

answers() { curl -sf "$URL" >/dev/null 2>&1; }
MARKER=/var/lib/keystone/.magnum-rs-bootstrapped
if [ ! -f "$MARKER" ]; then
  # A Keystone the package may have started with its own settings is not ours: replace it.
  pkill -f keystone-wsgi-public 2>/dev/null || true
  log "preparing Keystone (database, fernet keys, bootstrap)"
  su keystone -s /bin/sh -c "keystone-manage db_sync" >/dev/null
  keystone-manage fernet_setup --keystone-user keystone --keystone-group keystone >/dev/null
  keystone-manage credential_setup --keystone-user keystone --keystone-group keystone >/dev/null
  su keystone -s /bin/sh -c "keystone-manage bootstrap --bootstrap-password keystone-admin-test \
    --bootstrap-admin-url $URL/ --bootstrap-public-url $URL/ --bootstrap-internal-url $URL/ \
    --bootstrap-region-id RegionOne" >/dev/null
  touch "$MARKER"
fi
if ! answers; then
  # uwsgi's plain HTTP socket closes connections after each answer; saying so keeps clients
  # from reusing a closed one.
  log "starting Keystone on 127.0.0.1:5000"
  nohup uwsgi --plugins python3 --http-socket 127.0.0.1:5000 --wsgi-file /usr/bin/keystone-wsgi-public \
    --master --processes 2 --threads 2 --uid keystone --gid keystone --chdir /var/lib/keystone \
    --die-on-term --buffer-size 65535 --add-header "Connection: close" >/var/log/magnum-keystone.log 2>&1 3>&- &
  for _ in $(seq 1 150); do answers && break; sleep 0.2; done
  answers || die "Keystone did not answer on $URL; see /var/log/magnum-keystone.log and /var/log/keystone/"
fi

# Fixtures, through Keystone's own API (created only when missing).
python3 - "$URL" <<'PY'
import json, sys, urllib.request, urllib.error
url = sys.argv[1]
def call(method, path, body=None, token=None, want=(200, 201, 204)):
    req = urllib.request.Request(url + path, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"Content-Type": "application/json", **({"X-Auth-Token": token} if token else {})})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.headers, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        if e.code in want:
            return e.code, e.headers, {}
        raise SystemExit(f"{method} {path}: {e.code} {e.read()[:300]}")
_, h, _ = call("POST", "/auth/tokens", {"auth": {"identity": {"methods": ["password"], "password": {"user": {
    "name": "admin", "domain": {"id": "default"}, "password": "keystone-admin-test"}}},
    "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
tok = h["X-Subject-Token"]
def find(kind, name, **q):
    extra = "".join(f"&{k}={v}" for k, v in q.items())
    items = call("GET", f"/{kind}?name={name}{extra}", token=tok)[2][kind]
    return items[0]["id"] if items else None
def ensure(kind, singular, name, body, **q):
    return find(kind, name, **q) or call("POST", f"/{kind}", {singular: dict(name=name, **body)}, token=tok)[2][singular]["id"]
roles = {r: ensure("roles", "role", r, {}) for r in ["admin", "member", "reader"]}
def grant(project, user, role):
    call("PUT", f"/projects/{project}/users/{user}/roles/{roles[role]}", token=tok)
service_project = ensure("projects", "project", "service", {"domain_id": "default"})
magnum = ensure("users", "user", "magnum", {"domain_id": "default", "password": "magnum-service-test"})
grant(service_project, magnum, "admin")
for t in ["a", "b"]:
    p = ensure("projects", "project", f"tenant-{t}", {"domain_id": "default"})
    for role in ["member", "reader"]:
        u = ensure("users", "user", f"{t}-{role}", {"domain_id": "default", "password": "tenant-test"})
        grant(p, u, role)
svc = find("services", "magnum") or call("POST", "/services", {"service": {"name": "magnum", "type": "container-infra",
    "description": "Container Infrastructure Management Service (magnum-rs)"}}, token=tok)[2]["service"]["id"]
eps = call("GET", f"/endpoints?service_id={svc}&interface=public", token=tok)[2]["endpoints"]
if not eps:
    call("POST", "/endpoints", {"endpoint": {"service_id": svc, "interface": "public", "region_id": "RegionOne",
        "url": "http://127.0.0.1:9511/v1"}}, token=tok)
PY
echo "$URL" >&3
