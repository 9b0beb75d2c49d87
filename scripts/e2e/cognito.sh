#!/usr/bin/env bash
# The Cognito identity provider against moto's Cognito in server mode: passwords checked with
# InitiateAuth (with and without an app client secret), Cognito JWTs verified against the
# pool's JWKS on the management API, and a real client signing in and round-tripping.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../lib/tools.sh"
source "$here/../lib/server.sh"
ensure_moto; ensure_oras; ensure_curl; ensure_jq

work="$(mktemp -d)"
MOTO_PID=""
trap 'stop_stowage; [ -z "$MOTO_PID" ] || kill "$MOTO_PID" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
passed=0; failed=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }
notok() { echo "not ok - $*"; failed=$((failed + 1)); }
check() { local what="$1"; shift; if "$@" >>"$work/log" 2>&1; then ok "$what"; else notok "$what"; tail -5 "$work/log"; fi; }

port="$(free_port)"
MOTO="http://127.0.0.1:$port"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
MOTO_PID=$!
wait_http "$MOTO/" "$MOTO_PID"
setup="$("$VENV/bin/python" "$here/cognito_setup.py" "$MOTO")"
pool="$(jq -r .pool <<<"$setup")"

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true
export STOWAGE_IDENTITY=cognito STOWAGE_COGNITO_REGION=us-east-1 STOWAGE_COGNITO_ENDPOINT="$MOTO" \
  STOWAGE_COGNITO_USER_POOL_ID="$pool" STOWAGE_COGNITO_JWKS_URL="$MOTO/$pool/.well-known/jwks.json"

run_server() { # run_server CLIENT_ID [SECRET]
  export STOWAGE_COGNITO_CLIENT_ID="$1" STOWAGE_COGNITO_CLIENT_SECRET="${2:-}"
  start_stowage "$work/data-$1"
  provision cogorg main
  stowage_admin member set cogorg carla writer >/dev/null 2>&1
}

token_for() { # token_for USER PASSWORD: HTTP status of a token request
  curl -s -o "$work/token.json" -w '%{http_code}' -u "$1:$2" \
    "$STOWAGE_URL/v2/token?service=stowage&scope=repository:cogorg/main/app:pull,push"
}

# --- app client without a secret -------------------------------------------------------------
run_server "$(jq -r .plain_client <<<"$setup")"
check "a Cognito user's password gets a registry token" test "$(token_for carla Carla-pass-123)" = 200
check "the token grants the user's role (push on cogorg/main)" \
  jq -e '.token | split(".")[1] | gsub("-";"+") | gsub("_";"/") | . + ("=" * ((4 - length % 4) % 4)) | @base64d | fromjson | .access[0].actions | index("push") != null' "$work/token.json"
check "a wrong password is refused" test "$(token_for carla wrong-password)" = 401
check "an unknown Cognito user is refused" test "$(token_for nobody Carla-pass-123)" = 401

export HOME="$work/home" DOCKER_CONFIG="$work/home/.docker"; mkdir -p "$DOCKER_CONFIG"
echo "cognito e2e $RANDOM" >"$work/f.txt"
check "oras logs in with the Cognito password" \
  sh -c "printf %s Carla-pass-123 | oras login --plain-http -u carla --password-stdin $STOWAGE_ADDR"
check "oras pushes as the Cognito user" \
  sh -c "cd $work && oras push --plain-http $STOWAGE_ADDR/cogorg/main/app:v1 f.txt"
check "oras pulls it back byte for byte" \
  sh -c "cd $work && oras pull --plain-http -o out $STOWAGE_ADDR/cogorg/main/app:v1 && cmp f.txt out/f.txt"

idt="$(jq -r .id_token <<<"$setup")"
check "a Cognito ID token signs in to the management API" \
  sh -c "curl -sf -H 'Authorization: Bearer $idt' $STOWAGE_URL/api/v1/user | jq -e '.subject == \"user:carla\" and .memberships[0].org == \"cogorg\"'"
act="$(jq -r .access_token <<<"$setup")"
check "so does a Cognito access token" \
  sh -c "curl -sf -H 'Authorization: Bearer $act' $STOWAGE_URL/api/v1/orgs | jq -e '.orgs[0].name == \"cogorg\"'"
# The same token with its payload changed no longer verifies against the JWKS.
forged="$(python3 - "$idt" <<'PY'
import base64, json, sys
h, p, s = sys.argv[1].split(".")
claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
claims["cognito:username"] = "admin"
p = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
print(f"{h}.{p}.{s}")
PY
)"
check "a Cognito token with a changed payload is refused" \
  test "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $forged" "$STOWAGE_URL/api/v1/user")" = 401
stop_stowage

# --- app client with a secret (SECRET_HASH sent with InitiateAuth) ----------------------------
run_server "$(jq -r .secret_client <<<"$setup")" "$(jq -r .secret <<<"$setup")"
check "with an app client secret, the password still gets a token" test "$(token_for carla Carla-pass-123)" = 200
check "and a wrong one is still refused" test "$(token_for carla nope-nope-nope)" = 401
if grep -q "Carla-pass-123\|$(jq -r .secret <<<"$setup")" "$work"/data-*.log; then
  notok "a password or the client secret appears in the server log"
else
  ok "no password or client secret in the server log"
fi
stop_stowage
echo "cognito: $passed passed, $failed failed"
[ "$failed" = 0 ]
