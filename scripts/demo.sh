#!/usr/bin/env bash
# Installs everything, builds the release binary and runs dirbridge at
# http://127.0.0.1:3000 with a demo directory: a private OpenLDAP on loopback
# (ports 13389 / 13636) seeded with a small organisation, and a ready "demo"
# repository pointing at it. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
source scripts/env.sh

bash scripts/build-release.sh
demo="$PWD/data/demo"
mkdir -p "$demo"
[[ -s "$demo/admin-password" ]] || (umask 077; openssl rand -base64 15 | tr -d '\n' > "$demo/admin-password")
password="$(cat "$demo/admin-password")"
listen="${DIRBRIDGE_LISTEN:-127.0.0.1:3000}"

info="$(target/release/devdir start "$demo/slapd" --users 300 --port 13389 --tls-port 13636)"
cleanup() { target/release/devdir stop "$demo/slapd"; }
trap cleanup EXIT

DIRBRIDGE_ADMIN_PASSWORD="$password" target/release/dirbridge serve --listen "$listen" --data-dir "$demo/data" &
server=$!
trap 'kill $server 2>/dev/null; cleanup' EXIT INT TERM
for _ in $(seq 100); do curl -fs "http://$listen/readyz" >/dev/null && break; sleep 0.1; done

token="$(curl -fs "http://$listen/api/v1/auth/token" -H 'content-type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$password\"}" | sed -E 's/.*"accessToken":"([^"]+)".*/\1/')"
if ! curl -fs "http://$listen/api/v1/tenants/default/repositories/demo" -H "authorization: Bearer $token" >/dev/null; then
  ca="$(printf '%s' "$info" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["caPem"]))')"
  curl -fs "http://$listen/api/v1/tenants/default/repositories" -H "authorization: Bearer $token" -H 'content-type: application/json' -d @- >/dev/null <<JSON
{"id":"demo","name":"Demo directory (OpenLDAP)","vendor":"openldap",
 "connection":{"servers":["ldap://localhost:13389"],"startTls":true,"caCertificate":$ca,
   "bindDn":"cn=admin,dc=example,dc=org","bindPassword":"admin-secret"},
 "users":{"baseDn":"dc=example,dc=org","usersDn":"ou=People,dc=example,dc=org"},
 "groups":{"groupsDn":"ou=Groups,dc=example,dc=org","membershipAttribute":"memberOf"},
 "assignments":{"roles":[{"roleId":"admin","mappingType":"GROUP","groupDnOrOu":"cn=Admins,ou=Groups,dc=example,dc=org"}],
   "userTypes":[{"groupId":"employee","rootNodeDn":"ou=People,dc=example,dc=org"}]}}
JSON
fi
cat <<MSG

  dirbridge is running: http://$listen
  sign in as:           admin / $password
  demo directory:       ldap://localhost:13389 (StartTLS), ldaps://localhost:13636
                        users sign in with password Passw0rd!  (e.g. $(printf '%s' "$info" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sampleUser"])'))
  Ctrl-C stops dirbridge and the demo directory.

MSG
wait $server
