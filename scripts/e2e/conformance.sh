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
  export OCI_USERNAME OCI_PASSWORD
  local v
  for v in PULL PUSH BLOBS_ATOMIC BLOBS_DELETE BLOBS_DIGEST_HEADER BLOBS_MOUNT_ANONYMOUS \
           BLOBS_UPLOAD_CANCEL MANIFESTS_ATOMIC MANIFESTS_DELETE MANIFESTS_DIGEST_HEADER \
           MANIFESTS_TAG_PARAM TAGS_ATOMIC TAGS_DELETE TAGS_LIST REFERRER; do
    export "OCI_API_$v=true"
  done
  for v in IMAGE INDEX INDEX_LIST ARTIFACT SUBJECT SUBJECT_MISSING ARTIFACT_LIST SUBJECT_LIST \
           DATA_FIELD NONDISTRIBUTABLE CUSTOM_FIELDS NO_LAYERS EMPTY_BLOB SHA512; do
    export "OCI_DATA_$v=true"
  done
  export OCI_DATA_SPARSE="$sparse"
  export OCI_REGISTRY="$STOWAGE_ADDR" OCI_TLS=disabled OCI_VERSION=dev \
    OCI_REPO1=conformance/suite/repo1 OCI_REPO2=conformance/suite/repo2 \
    OCI_RESULTS_DIR="$work/$label-results" OCI_LOG=warn
  local rc=0
  (cd "$work" && conformance) > "$work/$label.out" 2>&1 || rc=$?
  stop_stowage
  local counts
  counts="$(grep -E '^\s+(Disabled|Skip|Pass|FAIL|Error|Total)\.' "$work/$label.out" | head -6 | tr -s ' .' ' ' | tr '\n' ';')"
  echo "conformance [$label]: $counts"
  local fail skip err
  fail="$(grep -E '^\s+FAIL\.' "$work/$label.out" | head -1 | grep -oE '[0-9]+$' || echo missing)"
  skip="$(grep -E '^\s+Skip\.' "$work/$label.out" | head -1 | grep -oE '[0-9]+$' || echo missing)"
  err="$(grep -E '^\s+Error\.' "$work/$label.out" | head -1 | grep -oE '[0-9]+$' || echo missing)"
  if [ "$rc" != 0 ] || [ "$fail" != 0 ] || [ "$skip" != 0 ] || [ "$err" != 0 ]; then
    echo "conformance [$label] did not pass cleanly (exit $rc):" >&2
    grep -E 'FAIL|Error|Skip|error' "$work/$label.out" | head -40 >&2 || true
    grep -E ' status=(4|5)[0-9][0-9] ' "$work/$label-data.log" | sed 's/\x1b\[[0-9;]*m//g' | tail -15 >&2 || true
    return 1
  fi
}

failed=0
run_suite all-switches true token --allow-sparse || failed=$((failed + 1))
run_suite strict false password || failed=$((failed + 1))
echo "conformance: $((2 - failed)) passed, $failed failed"
[ "$failed" = 0 ]
