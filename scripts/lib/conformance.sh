# shellcheck shell=bash
# The OCI conformance suite (pinned in tools.sh), run against any registry address. Source it.
#
#   conformance_run LABEL ADDR USER PASSWORD REPO_PREFIX SPARSE WORKDIR [SERVER_LOG]
#
# Sets every OCI_API_* and OCI_DATA_* switch (OCI_DATA_SPARSE from SPARSE), runs the suite in
# WORKDIR, prints `conformance [LABEL]: <counts>`, and returns 1 unless it ended with zero
# failures, zero errors and zero skips (then shows what failed, and the 4xx/5xx lines of
# SERVER_LOG when given).
conformance_run() {
  local label="$1" addr="$2" user="$3" pass="$4" prefix="$5" sparse="$6" dir="$7" log="${8:-}"
  mkdir -p "$dir"
  local rc=0
  (
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
    export OCI_DATA_SPARSE="$sparse" OCI_USERNAME="$user" OCI_PASSWORD="$pass"
    export OCI_REGISTRY="$addr" OCI_TLS=disabled OCI_VERSION=dev \
      OCI_REPO1="$prefix/repo1" OCI_REPO2="$prefix/repo2" \
      OCI_RESULTS_DIR="$dir/results" OCI_LOG=warn
    cd "$dir" && exec conformance
  ) > "$dir/$label.out" 2>&1 || rc=$?
  local counts fail skip err
  counts="$(grep -E '^\s+(Disabled|Skip|Pass|FAIL|Error|Total)\.' "$dir/$label.out" | head -6 | tr -s ' .' ' ' | tr '\n' ';')"
  echo "conformance [$label]: $counts"
  fail="$(grep -E '^\s+FAIL\.' "$dir/$label.out" | head -1 | grep -oE '[0-9]+$' || echo missing)"
  skip="$(grep -E '^\s+Skip\.' "$dir/$label.out" | head -1 | grep -oE '[0-9]+$' || echo missing)"
  err="$(grep -E '^\s+Error\.' "$dir/$label.out" | head -1 | grep -oE '[0-9]+$' || echo missing)"
  if [ "$rc" != 0 ] || [ "$fail" != 0 ] || [ "$skip" != 0 ] || [ "$err" != 0 ]; then
    echo "conformance [$label] did not pass cleanly (exit $rc):" >&2
    grep -E 'FAIL|Error|Skip|error' "$dir/$label.out" | head -40 >&2 || true
    if [ -n "$log" ]; then
      grep -E ' status=(4|5)[0-9][0-9] ' "$log" | sed 's/\x1b\[[0-9;]*m//g' | tail -15 >&2 || true
    fi
    return 1
  fi
}
