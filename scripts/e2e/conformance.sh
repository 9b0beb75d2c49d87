#!/usr/bin/env bash
# The OCI Distribution conformance suite against a real `stowage serve`.
#
# Two runs, both with authentication on (the token flow, as every client does it):
#   1. every OCI_API_* and OCI_DATA_* switch on, against a server started with --allow-sparse
#      (the sparse data set pushes manifests whose layers / children were never pushed; a
#      registry MAY refuse those, Stowage does by default, so this run opts in), signed in
#      with a writer's API token;
#   2. every switch on except OCI_DATA_SPARSE, against a server with the default (strict)
#      policy, signed in with a user's password (a writer of the organization).
# Each run must end with zero failures, zero errors and zero skips.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../lib/tools.sh"
source "$here/../lib/server.sh"
source "$here/../lib/conformance.sh"
ensure_conformance
ensure_curl

work="$(mktemp -d)"
trap 'stop_stowage; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

run_suite() { # run_suite LABEL SPARSE CREDENTIALS [serve args...]
  local label="$1" sparse="$2" creds="$3"; shift 3
  start_stowage "$work/$label-data" "$@"
  provision conformance suite
  if [ "$creds" = token ]; then
    OCI_USERNAME=__token__
    OCI_PASSWORD="$(new_token conformance writer)"
  else
    printf 'conformance-writer-pw\n' | stowage_admin user add ci-writer --password-stdin >/dev/null
    stowage_admin member set conformance ci-writer writer >/dev/null
    OCI_USERNAME=ci-writer
    OCI_PASSWORD=conformance-writer-pw
  fi
  local rc=0
  conformance_run "$label" "$STOWAGE_ADDR" "$OCI_USERNAME" "$OCI_PASSWORD" conformance/suite \
    "$sparse" "$work/$label" "$work/$label-data.log" || rc=1
  stop_stowage
  return "$rc"
}

failed=0
run_suite all-switches true token --allow-sparse || failed=$((failed + 1))
run_suite strict false password || failed=$((failed + 1))
echo "conformance: $((2 - failed)) passed, $failed failed"
[ "$failed" = 0 ]
