#!/usr/bin/env bash
# The README's first session, as a new user types it: start on an empty data directory, read the
# printed admin password, sign in with a docker-compatible client, create an organization, a
# registry and a CI token, push with the token, list what was pushed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../lib/tools.sh"
source "$here/../lib/server.sh"
source "$here/../lib/pypi.sh"
ensure_oras; ensure_crane; ensure_pypi_tools
pypi_package_set; pypi_isolate_env

work="$(mktemp -d)"
trap 'stop_stowage; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
passed=0; failed=0
check() { local what="$1"; shift; if "$@" >>"$work/log" 2>&1; then echo "ok - $what"; passed=$((passed + 1)); else echo "not ok - $what"; failed=$((failed + 1)); tail -5 "$work/log"; fi; }
export HOME="$work/home" DOCKER_CONFIG="$work/home/.docker"; mkdir -p "$DOCKER_CONFIG"

STOWAGE_ADMIN_PASSWORD="" start_stowage "$work/data"
password="$(sed -n 's/^stowage: created the first user `admin` with password \([^ ]*\)$/\1/p' "$work/data.log")"
check "the first start prints an admin password" test -n "$password"
check "it is not in the log lines of the server" sh -c "! grep -F '$password' '$work/data.log' | grep -q ' INFO \| WARN \| ERROR '"
check "oras logs in as admin with it" sh -c "printf %s '$password' | oras login --plain-http -u admin --password-stdin $STOWAGE_ADDR"
check "the admin creates an organization" stowage_admin org create acme --owner admin
check "and a registry" stowage_admin registry create acme/prod
TOKEN="$(stowage_admin token create acme --role writer --name ci 2>/dev/null)"
check "and a CI token" test -n "$TOKEN"
check "crane signs in with the token" sh -c "printf %s '$TOKEN' | crane auth login $STOWAGE_ADDR -u __token__ --password-stdin"
echo "hello from the README" >"$work/README.md"
check "oras pushes" sh -c "cd $work && oras push --plain-http $STOWAGE_ADDR/acme/prod/hello:v1 README.md"
check "crane lists what was pushed" sh -c "crane ls --insecure $STOWAGE_ADDR/acme/prod/hello | grep -qx v1"
mkdir -p "$work/dist" && cp "$PYPI_SET"/idna-*.whl "$work/dist/"
check "twine uploads with the same token" "$VENV/bin/twine" upload --non-interactive --disable-progress-bar \
  --repository-url "$STOWAGE_URL/api/v1/acme/prod/python/" -u __token__ -p "$TOKEN" "$work/dist/"*
check "pip gets it from the registry (pip download)" "$VENV/bin/pip" download --no-deps --no-cache-dir -d "$work/got" \
  --index-url "http://__token__:$TOKEN@$STOWAGE_ADDR/api/v1/acme/prod/python/simple/" idna
check "and gets the same bytes" cmp "$work/dist/"idna-*.whl "$work/got/"idna-*.whl
stop_stowage
STOWAGE_ADMIN_PASSWORD="" start_stowage "$work/data"
check "a restart does not make a new admin password" test "$(grep -c 'created the first user' "$work/data.log")" = 1
echo "quickstart: $passed passed, $failed failed"
[ "$failed" = 0 ]
