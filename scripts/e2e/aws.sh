#!/usr/bin/env bash
# End to end on the AWS backend, against emulators on loopback (no AWS account):
# moto in server mode (DynamoDB, Cognito, SQS) and s3s-fs (S3, checking every signature;
# addressed as `localhost` while the registry is `127.0.0.1`, so a client that follows a
# presigned redirect drops its registry credentials, as it would across real hosts).
#
#   1. `stowage serve --backend aws`, the streaming upload service: a Cognito user signs in
#      with a password, creates an organization, a registry and a CI token through the
#      management API; the conformance suite (every switch, sparse data, the token); oras,
#      crane, twine and pip round trips; a 1 GiB blob pushed in ONE PATCH, with the server's
#      peak RSS before and after.
#   2. The Lambda fleet: the function binaries under `cargo lambda watch`, behind
#      scripts/e2e/aws/front.py (the front door: routes by path as CloudFront and API Gateway
#      would, refuses payloads Lambda cannot carry): the conformance suite (strict data, a
#      Cognito password); oras and twine/pip round trips; a 1 GiB blob pushed in 4 MB chunks
#      and pulled back through the presigned redirect; AWS calls per operation; each function
#      invoked with its events/ samples; the sign-up flow (Cognito trigger -> SQS -> user-sync:
#      a pending invitation becomes a membership).
#
#   KEEP=1 scripts/e2e/aws.sh   keeps the work dir (logs) on failure
#   AWS_E2E_BIG_MB=N            size of the big blobs (default 1024)
#   AWS_E2E_PARTS="fleet"       runs only some parts (default "serve fleet")
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$here/../lib/tools.sh"
source "$here/../lib/server.sh"
source "$here/../lib/conformance.sh"
source "$here/../lib/pypi.sh"
ensure_moto; ensure_s3s_fs; ensure_cargo_lambda; ensure_conformance; ensure_oras; ensure_crane
ensure_pypi_tools; ensure_jq; ensure_curl
pypi_package_set

STOWAGE_BIN="${STOWAGE_BIN:-$root/target/debug/stowage}"
BIG_MB="${AWS_E2E_BIG_MB:-1024}"
work="$(mktemp -d "${TMPDIR:-/tmp}/stowage-aws.XXXXXX")"
PIDS=()
cleanup() {
  local rc=$? p
  stop_stowage
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "$rc" -ne 0 ] && [ "${KEEP:-}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

passed=0; failed=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }
notok() { echo "not ok - $*"; failed=$((failed + 1)); }
LOG="$work/client.log"
check() {
  local what="$1"; shift
  echo "+ [check] $*" | sed -E 's/stw_[0-9a-f_]+/stw_…/g' >>"$LOG"
  if "$@" >>"$LOG" 2>&1; then ok "$what"; else notok "$what"; tail -n 15 "$LOG" | sed 's/^/#   /'; fi
}
# Clients keep their configuration in the work dir (cargo and rustup keep theirs).
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export HOME="$work/home" DOCKER_CONFIG="$work/home/.docker"
mkdir -p "$DOCKER_CONFIG"
pypi_isolate_env

# ---- emulators and the resources a deployment's infrastructure creates -----------------------
MOTO_PORT="$(free_port)"; MOTO="http://127.0.0.1:$MOTO_PORT"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$work/moto.log" 2>&1 &
PIDS+=($!)
S3_PORT="$(free_port)"
mkdir -p "$work/s3"
"$STOWAGE_TOOLS/cargo/bin/s3s-fs" --host 127.0.0.1 --port "$S3_PORT" --access-key stowage-e2e \
  --secret-key stowage-e2e-secret "$work/s3" >"$work/s3s.log" 2>&1 &
PIDS+=($!)
wait_http "$MOTO/" "${PIDS[0]}"
wait_http "http://127.0.0.1:$S3_PORT/" "${PIDS[1]}"

export AWS_ACCESS_KEY_ID=stowage-e2e AWS_SECRET_ACCESS_KEY=stowage-e2e-secret AWS_REGION=us-east-1 \
  AWS_EC2_METADATA_DISABLED=true AWS_ENDPOINT_URL="$MOTO" AWS_ENDPOINT_URL_S3="http://localhost:$S3_PORT" \
  STOWAGE_TABLE=stowage STOWAGE_BUCKET=stowage-blobs STOWAGE_S3_PATH_STYLE=1 STOWAGE_COUNT_AWS_CALLS=1
"$STOWAGE_BIN" aws init >>"$LOG" 2>&1
setup="$("$VENV/bin/python" "$here/aws/setup.py" "$MOTO")"
export STOWAGE_COGNITO_USER_POOL_ID="$(jq -r .pool <<<"$setup")" \
  STOWAGE_COGNITO_CLIENT_ID="$(jq -r .client <<<"$setup")" STOWAGE_COGNITO_ENDPOINT="$MOTO" \
  STOWAGE_COGNITO_REGION=us-east-1 STOWAGE_EVENTS_QUEUE_URL="$(jq -r .queue <<<"$setup")"
export STOWAGE_COGNITO_JWKS_URL="$MOTO/$STOWAGE_COGNITO_USER_POOL_ID/.well-known/jwks.json"
SIGNING_KEY="$("$STOWAGE_BIN" aws keygen)"
PUBLIC_KEYS="$(printf '%s' "$SIGNING_KEY" | "$STOWAGE_BIN" aws public-keys)"
ok "emulators up; table, bucket, user pool and queue created; a token signing key made"

# api BASE METHOD PATH [JSON]: the management API with the bearer token $BEARER.
api() {
  local base="$1" method="$2" path="$3" data="${4:-}"
  local args=(-sS -X "$method" -H "Authorization: Bearer $BEARER" -w '\n%{http_code}')
  [ -z "$data" ] || args+=(-H 'Content-Type: application/json' -d "$data")
  curl "${args[@]}" "$base/api/v1$path"
}
# registry_token BASE USER PASSWORD: a registry token from the token endpoint.
registry_token() {
  curl -sS -u "$2:$3" "$1/v2/token?service=stowage" | jq -r .token
}
# provision_aws BASE ORG REG: signs alice in with her Cognito password, creates ORG and ORG/REG
# through the management API, and prints a writer API token of ORG.
provision_aws() {
  local base="$1" org="$2" reg="$3" out
  BEARER="$(registry_token "$base" alice Alice-pass-123)"
  [ -n "$BEARER" ] && [ "$BEARER" != null ] || { echo "alice could not sign in" >&2; return 1; }
  out="$(api "$base" POST /orgs "{\"name\":\"$org\"}")"; [ "$(tail -n1 <<<"$out")" = 201 ] || { echo "$out" >&2; return 1; }
  out="$(api "$base" POST "/orgs/$org/registries" "{\"name\":\"$reg\"}")"; [ "$(tail -n1 <<<"$out")" = 201 ] || { echo "$out" >&2; return 1; }
  out="$(api "$base" POST "/orgs/$org/tokens" '{"name":"ci","role":"writer"}')"
  [ "$(tail -n1 <<<"$out")" = 201 ] || { echo "$out" >&2; return 1; }
  head -n -1 <<<"$out" | jq -r .token
}

# round_trips ADDR ORG/REG TOKEN LABEL: oras, crane, twine and pip against one front.
round_trips() {
  local addr="$1" ns="$2" token="$3" label="$4" d="$work/rt-$4"
  mkdir -p "$d"
  echo "hello from $label $RANDOM" >"$d/hello.txt"
  check "$label: oras signs in with the API token" \
    sh -c "printf %s '$token' | oras login --plain-http -u __token__ --password-stdin $addr"
  check "$label: oras push" sh -c "cd '$d' && oras push --plain-http $addr/$ns/hello:v1 hello.txt"
  check "$label: oras pull gives the same bytes" \
    sh -c "cd '$d' && oras pull --plain-http -o out $addr/$ns/hello:v1 && cmp hello.txt out/hello.txt"
  check "$label: crane copy between repositories" crane copy --insecure "$addr/$ns/hello:v1" "$addr/$ns/copy:v1"
  check "$label: crane digest agrees across the copy" \
    test "$(crane digest --insecure "$addr/$ns/hello:v1")" = "$(crane digest --insecure "$addr/$ns/copy:v1")"
  check "$label: crane ls" sh -c "crane ls --insecure $addr/$ns/copy | grep -qx v1"
  local whl; whl="$(cd "$PYPI_SET" && ls idna-*.whl)"
  check "$label: twine upload" "$VENV/bin/twine" upload --non-interactive --disable-progress-bar \
    --repository-url "http://$addr/api/v1/$ns/python/" -u __token__ -p "$token" "$PYPI_SET/$whl"
  check "$label: pip download gets the same bytes" sh -c "'$VENV/bin/pip' download --no-deps --no-cache-dir -d '$d/pip' \
    --index-url 'http://__token__:$token@$addr/api/v1/$ns/python/simple/' idna && cmp '$d/pip/$whl' '$PYPI_SET/$whl'"
}

# big_file: a BIG_MB MiB file of random bytes (made once).
BIG="$work/big.bin"
big_file() { [ -f "$BIG" ] || head -c "$((BIG_MB * 1024 * 1024))" /dev/urandom >"$BIG"; }
peak_rss() { awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

# ---- 1. stowage serve --backend aws -----------------------------------------------------------
PARTS=" ${AWS_E2E_PARTS:-serve fleet} "
if [[ "$PARTS" == *" serve "* ]]; then
echo "# 1. stowage serve --backend aws"
export STOWAGE_TOKEN_SIGNING_KEYS="$SIGNING_KEY"
start_stowage "$work/serve" --backend aws --allow-sparse
SERVE_LOG="$work/serve.log"
TOKEN="$(provision_aws "$STOWAGE_URL" acme prod)"
check "serve: a Cognito user signs in, creates acme/prod and a writer token" test -n "$TOKEN"
mkdir -p "$work/conf-serve"
if conformance_run serve "$STOWAGE_ADDR" __token__ "$TOKEN" acme/prod/conformance true "$work/conf-serve" "$SERVE_LOG" \
    | tee "$work/conf-serve.txt"; then
  ok "serve: conformance, every switch, sparse data, API token"
else
  notok "serve: conformance"
fi
round_trips "$STOWAGE_ADDR" acme/prod "$TOKEN" serve

big_file
rss0="$(peak_rss "$STOWAGE_PID")"
BIG_DIGEST="sha256:$(sha256sum "$BIG" | cut -d' ' -f1)"
auth=(-H "Authorization: Bearer $(curl -sS -u "__token__:$TOKEN" "$STOWAGE_URL/v2/token?service=stowage&scope=repository:acme/prod/big:pull,push" | jq -r .token)")
loc="$(curl -sS -o /dev/null -D - -X POST "${auth[@]}" "$STOWAGE_URL/v2/acme/prod/big/blobs/uploads/" | awk 'tolower($1) == "location:" { print $2 }' | tr -d '\r')"
t0=$(date +%s%N)
code="$(curl -sS -o "$work/patch.out" -w '%{http_code}' -X PATCH "${auth[@]}" -H 'Content-Type: application/octet-stream' \
  -T "$BIG" "$STOWAGE_URL$loc")"
loc2="$(curl -sS -o /dev/null -D - -X PATCH "${auth[@]}" -H 'Content-Length: 0' "$STOWAGE_URL$loc" | awk 'tolower($1) == "location:" { print $2 }' | tr -d '\r')"
case "$loc2" in *\?*) sep='&' ;; *) sep='?' ;; esac
put="$(curl -sS -o "$work/put.out" -w '%{http_code}' -X PUT "${auth[@]}" "$STOWAGE_URL$loc2${sep}digest=$BIG_DIGEST")"
secs="$(awk -v ns="$(( $(date +%s%N) - t0 ))" 'BEGIN { printf "%.1f", ns / 1e9 }')"
rss1="$(peak_rss "$STOWAGE_PID")"
echo "# serve --backend aws: $BIG_MB MiB in one PATCH in $secs s; peak RSS $rss0 MiB before, $rss1 MiB after"
echo "serve-big: mb=$BIG_MB seconds=$secs rss_before=$rss0 rss_after=$rss1" >>"$work/figures"
check "serve: $BIG_MB MiB pushed in one PATCH (202) and committed (201)" test "$code $put" = "202 201"
check "serve: the server's peak RSS grew by less than 64 MiB over the push ($rss0 -> $rss1 MiB)" \
  test "$((rss1 - rss0))" -lt 64
got="$(curl -sS -L "${auth[@]}" "$STOWAGE_URL/v2/acme/prod/big/blobs/$BIG_DIGEST" | sha256sum | cut -d' ' -f1)"
check "serve: the blob reads back with its digest (through the presigned redirect)" test "sha256:$got" = "$BIG_DIGEST"
stop_stowage
fi

# ---- 2. the Lambda fleet ----------------------------------------------------------------------
echo "# 2. the Lambda fleet under cargo lambda watch"
FUNCTIONS=(oci-manifests oci-blobs pypi auth cognito-post-confirmation user-sync)
( cd "$root" && cargo build -q $(printf -- '-p %s ' "${FUNCTIONS[@]}") ) >>"$LOG" 2>&1
FRONT_PORT="$(free_port)"
FRONT="http://127.0.0.1:$FRONT_PORT"
# One environment for every function; only `auth` reads the signing key (the others read the
# public keys), as each function's own environment would hold in a deployment.
{
  while IFS='=' read -r k v; do printf "%s='%s'\n" "$k" "$v"; done < <(env | grep -E '^(AWS_|STOWAGE_)' | grep -v '^STOWAGE_TOKEN_SIGNING_KEYS=')
  printf "STOWAGE_TOKEN_SIGNING_KEYS='%s'\n" "$(tr '\n' ' ' <<<"$SIGNING_KEY")"
  printf "STOWAGE_TOKEN_PUBLIC_KEYS='%s'\nSTOWAGE_PUBLIC_URL='%s'\n" "$PUBLIC_KEYS" "$FRONT"
  # Behind a custom domain the stage is not part of the path clients use.
  printf "AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH='true'\n"
} >"$work/fleet.env"
unset STOWAGE_TOKEN_SIGNING_KEYS
# One `cargo lambda watch` per function (it runs `cargo run -p <function>`, and the workspace's
# default member is the stowage binary).
declare -A WATCH
routes=()
for fn in "${FUNCTIONS[@]}"; do
  WATCH[$fn]="$(free_port)"
  ( cd "$root" && exec "$VENV/bin/cargo-lambda" lambda watch --ignore-changes -A 127.0.0.1 -P "${WATCH[$fn]}" \
      --env-file "$work/fleet.env" -p "$fn" ) >"$work/watch-$fn.log" 2>&1 &
  PIDS+=($!)
  routes+=("$fn=http://127.0.0.1:${WATCH[$fn]}")
done
"$VENV/bin/python" "$here/aws/front.py" "$FRONT_PORT" "${routes[@]}" >"$work/front.log" 2>&1 &
PIDS+=($!)
for fn in "${FUNCTIONS[@]}"; do
  wait_http "http://127.0.0.1:${WATCH[$fn]}/" || true
done
wait_http "$FRONT/v2/" "${PIDS[-1]}"
# The first request to a function starts it; wait until the version check answers 401.
for _ in $(seq 1 120); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$FRONT/v2/")" = 401 ] && break
  sleep 1
done
# lambda_invoke FUNCTION EVENT_FILE: one invocation, as `cargo lambda invoke --data-file` does.
lambda_invoke() {
  "$VENV/bin/cargo-lambda" lambda invoke --invoke-address 127.0.0.1 --invoke-port "${WATCH[$1]}" "$1" \
    --data-file "$2" --output-format json
}

FTOKEN="$(provision_aws "$FRONT" globex main)"
check "fleet: a Cognito user signs in, creates globex/main and a writer token" test -n "$FTOKEN"
mkdir -p "$work/conf-fleet"
if conformance_run fleet "127.0.0.1:$FRONT_PORT" alice Alice-pass-123 globex/main/conformance false "$work/conf-fleet" \
    | tee "$work/conf-fleet.txt"; then
  ok "fleet: conformance through the Lambda functions, every switch but sparse, a Cognito password"
else
  notok "fleet: conformance through the Lambda functions"
  tail -n 30 "$work"/watch-oci-*.log | sed 's/^/#   /'
fi
round_trips "127.0.0.1:$FRONT_PORT" globex/main "$FTOKEN" fleet

big_file
if "$VENV/bin/python" "$here/aws/chunked_push.py" "$FRONT" globex/main/big "$FTOKEN" "$BIG" 4000000 \
    >"$work/chunked.txt" 2>>"$LOG"; then
  ok "fleet: $BIG_MB MiB pushed in 4 MB chunks through oci-blobs, pulled back through the presigned redirect, same digest"
  cat "$work/chunked.txt"
else
  notok "fleet: $BIG_MB MiB in 4 MB chunks"; tail -n 20 "$LOG" | sed 's/^/#   /'
fi
check "fleet: a request body Lambda cannot carry is refused by the front (413)" \
  test "$(head -c 5000000 /dev/zero | curl -s -o /dev/null -w '%{http_code}' -X PATCH --data-binary @- "$FRONT/v2/globex/main/big/blobs/uploads/x")" = 413

# AWS calls per operation, read from each answer's x-stowage-aws-calls header.
if "$VENV/bin/python" "$here/aws/call_counts.py" "$FRONT" globex/main "$FTOKEN" >"$work/calls.md" 2>>"$LOG"; then
  ok "fleet: AWS calls per operation within the aims (table below)"
else
  notok "fleet: AWS calls per operation (table below)"
fi
cat "$work/calls.md"

# Each function with its sample events, as `cargo lambda invoke --data-file` sends them.
for f in "$root"/events/*.json; do
  name="$(basename "$f" .json)"; fn="${name%%--*}"
  case "$fn" in
    cognito-post-confirmation) want='.userName != null' ;;  # a trigger hands its event back
    user-sync) want='.batchItemFailures | length == 0' ;;
    *) want='.statusCode >= 200 and .statusCode < 500' ;;
  esac
  lambda_invoke "$fn" "$f" >"$work/invoke.json" 2>>"$LOG" || true
  check "events: $fn takes $name.json" jq -e "$want" "$work/invoke.json"
done

# Sign-up: bruno is invited to globex before he has an account; Cognito's post-confirmation
# trigger puts UserConfirmed on SQS; user-sync consumes it; bruno is then a member.
BEARER="$(registry_token "$FRONT" alice Alice-pass-123)"
out="$(api "$FRONT" POST /orgs/globex/invitations '{"email":"bruno@example.com","role":"viewer"}')"
check "sign-up: alice invites bruno@example.com to globex" test "$(tail -n1 <<<"$out")" = 201
sed -e 's/"userName": *"[^"]*"/"userName": "bruno"/' -e 's/"email": *"[^"]*"/"email": "bruno@example.com"/' \
  "$root/events/cognito-post-confirmation--confirm-sign-up.json" >"$work/confirm-bruno.json"
lambda_invoke cognito-post-confirmation "$work/confirm-bruno.json" >"$work/invoke.json" 2>>"$LOG" || true
check "sign-up: the post-confirmation trigger answers Cognito with its own event" \
  jq -e '.userName == "bruno"' "$work/invoke.json"
"$VENV/bin/python" "$here/aws/sqs_to_event.py" "$MOTO" "$STOWAGE_EVENTS_QUEUE_URL" >"$work/sqs-event.json" 2>>"$LOG" || true
check "sign-up: the trigger put UserConfirmed for bruno on the queue" \
  jq -e '[.Records[].body | fromjson | select(.type == "UserConfirmed" and .username == "bruno")] | length == 1' "$work/sqs-event.json"
lambda_invoke user-sync "$work/sqs-event.json" >"$work/invoke.json" 2>>"$LOG" || true
check "sign-up: user-sync consumes the batch with no failed message" \
  jq -e '.batchItemFailures | length == 0' "$work/invoke.json"
BEARER="$(registry_token "$FRONT" bruno Bruno-pass-123)"
check "sign-up: bruno is now a viewer of globex" \
  sh -c "curl -sS -H 'Authorization: Bearer $BEARER' '$FRONT/api/v1/user' | jq -e '[.memberships[] | select(.org == \"globex\" and .role == \"viewer\")] | length == 1'"

echo "aws: $passed passed, $failed failed"
[ "$failed" = 0 ]
