# shellcheck shell=bash
# PyPI helpers for scripts/e2e/pypi.sh and scripts/bench. Source it after tools.sh.
#
#   pypi_package_set      makes sure the pinned real package set (scripts/e2e/pypi/requirements.txt)
#                         is in the tool cache, downloading it once from the default index;
#                         sets PYPI_SET (the directory of its wheels), PYPI_SET_SUMS (their
#                         "sha256  filename" lines, sorted by name) and PYPI_SET_COUNT
#   pypi_isolate_env      forgets the machine's and the user's pip, uv and twine settings, so
#                         only the index given on the command line is used
#   pypi_pinned_freeze    the pinned list as normalized, sorted `name==version` lines
#   pypi_norm_freeze      the same normalization of `pip freeze` / `uv pip freeze` on stdin

PYPI_FIXTURES="$(cd "$(dirname "${BASH_SOURCE[0]}")/../e2e/pypi" && pwd)"
PYPI_REQS="$PYPI_FIXTURES/requirements.txt"

pypi_package_set() {
  local tag key dir
  # Which wheels pip picks depends on the interpreter and the platform, so they key the cache
  # with the pinned list (a changed line downloads the set again).
  tag="$("$VENV/bin/python" -c 'import sys, sysconfig; print(sys.implementation.cache_tag, sysconfig.get_platform())')"
  key="$({ cat "$PYPI_REQS"; echo "$tag"; } | sha256sum | cut -c1-16)"
  dir="$STOWAGE_TOOLS/pypi-packages/$key"
  PYPI_SET="$dir/files"
  PYPI_SET_SUMS="$dir/SHA256SUMS"
  if [ ! -s "$PYPI_SET_SUMS" ]; then
    log_step "downloading the pinned package set ($tag) into $dir"
    rm -rf "$dir.tmp"
    mkdir -p "$dir.tmp/files"
    # The default index as this machine's pip is configured, but no local find-links.
    (unset PIP_FIND_LINKS PIP_NO_INDEX
     "$VENV/bin/pip" download --no-cache-dir --disable-pip-version-check --no-input -q \
       --only-binary=:all: -d "$dir.tmp/files" -r "$PYPI_REQS" >&2) || { rm -rf "$dir.tmp"; return 1; }
    (cd "$dir.tmp/files" && sha256sum -- * | sort -k2) >"$dir.tmp/SHA256SUMS"
    rm -rf "$dir"
    mv "$dir.tmp" "$dir"
  fi
  PYPI_SET_COUNT="$(wc -l <"$PYPI_SET_SUMS")"
  export PYPI_SET PYPI_SET_SUMS PYPI_SET_COUNT
}

pypi_isolate_env() {
  local v
  for v in $(compgen -e); do
    case "$v" in PIP_*|UV_*|TWINE_*) unset "$v" ;; esac
  done
  export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
    UV_NO_CONFIG=1 UV_PYTHON_DOWNLOADS=never UV_NO_PROGRESS=1 \
    PYTHON_KEYRING_BACKEND=keyring.backends.null.Keyring NO_COLOR=1 TERM=dumb COLUMNS=300
}

pypi_norm_freeze() {
  grep -E '^[A-Za-z0-9][^ ]*==' |
    awk -F'==' '{ n = tolower($1); gsub(/[-_.]+/, "-", n); v = $2; sub(/[ \t;#].*$/, "", v); print n "==" v }' |
    sort
}

pypi_pinned_freeze() { pypi_norm_freeze <"$PYPI_REQS"; }
