#!/usr/bin/env bash
# End-to-end: the Python package index with the real tools. twine and uv publish upload, pip and
# uv resolve and install a real set of third-party packages (scripts/e2e/pypi/requirements.txt,
# downloaded once into the tool cache), yanks are honoured as PEP 592 says, each file is an OCI
# artifact that oras pulls back, and the Simple API's formats are checked with curl.
#
#   scripts/e2e/pypi.sh          starts its own `stowage serve` ($STOWAGE_BIN, default
#                                target/debug/stowage)
#   KEEP=1 scripts/e2e/pypi.sh   keeps the work dir (client log, server log) on failure
#
# Prints `ok - <what>` / `not ok - <what>` per check and `pypi: N passed, M failed`; exits 1 if
# anything failed. A client command that fails aborts only its own section (reported as not ok).
# Registries: e2e/pypi (private) and e2e/pypi-public (--public). The test project TestPkg
# (scripts/e2e/pypi/testpkg, a template) is built offline in four variants: 1.0.0 and 1.1.0
# (twine), 0.9.0 (uv publish) and a different 1.0.0 (the conflicting re-upload). So the newest
# version is 1.1.0, and with 1.1.0 yanked it is 1.0.0. The twine ones have Metadata-Version 2.4
# so that twine 6.1 (for --skip-existing, see tools.sh) takes them too; uv's has 2.5, as do 10
# wheels of the package set.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/lib/tools.sh
source "$here/../lib/tools.sh"
# shellcheck source=scripts/lib/server.sh
source "$here/../lib/server.sh"
# shellcheck source=scripts/lib/pypi.sh
source "$here/../lib/pypi.sh"

ensure_pypi_tools; ensure_twine6; ensure_oras; ensure_jq; ensure_curl
pypi_package_set

STOWAGE_BIN="${STOWAGE_BIN:-$here/../../target/debug/stowage}"
[ -x "$STOWAGE_BIN" ] || { echo "no stowage binary at $STOWAGE_BIN (build it: cargo build -p stowage)" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/stowage-pypi.XXXXXX")"
LOG="$work/clients.log"   # every client command and its output
RESULTS="$work/results"   # one ok/not ok line per check (sections run in subshells)
: >"$LOG"; : >"$RESULTS"
started=""

cleanup() {
  local rc=$?
  [ -z "$started" ] || stop_stowage
  if [ "$rc" -ne 0 ] && [ "${KEEP:-}" = 1 ]; then
    echo "kept work dir: $work (client log: $LOG, server log: $work/data.log)" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

started=1   # before starting, so the trap stops a server that never came up
start_stowage "$work/data"
ORG=e2e REG=pypi PUB=pypi-public
provision "$ORG" "$REG"
provision "$ORG" "$PUB" --public
WRITER="$(new_token "$ORG" writer)"
VIEWER="$(new_token "$ORG" viewer)"
ADMIN="$(new_token "$ORG" admin)"
WRONG="stw_0000000000000000_0000000000000000000000000000000000000000000000000000000000000000"

API="$STOWAGE_URL/api/v1"
UPLOAD="$API/$ORG/$REG/python/"
SIMPLE="$API/$ORG/$REG/python/simple/"
FILES="$API/$ORG/$REG/python/files"
MGMT="$API/orgs/$ORG/registries/$REG/python"
PUB_UPLOAD="$API/$ORG/$PUB/python/"
PUB_SIMPLE="$API/$ORG/$PUB/python/simple/"
# with_creds TOKEN URL: the URL with __token__:TOKEN in it, as pip and uv take credentials.
with_creds() { printf 'http://__token__:%s@%s' "$1" "${2#http://}"; }
SIMPLE_W="$(with_creds "$WRITER" "$SIMPLE")"
SIMPLE_V="$(with_creds "$VIEWER" "$SIMPLE")"

PY="$VENV/bin/python"
PIP="$VENV/bin/pip"
UV="$VENV/bin/uv"
DIST="$work/build/dist"                   # 1.0.0 and 1.1.0, uploaded with twine
DIST_UV="$work/build/dist-uv"             # 0.9.0, published with uv
DIST_CONFLICT="$work/build/dist-conflict" # 1.0.0 again, different bytes
WHEEL=testpkg-1.0.0-py3-none-any.whl

# Clients keep config, credentials and caches in the work dir, never in the user's home, and
# use only the index they are given (not the machine's pip or uv configuration).
# (Tools were installed above, so changing HOME no longer affects the tool cache.)
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" XDG_CACHE_HOME="$work/home/.cache" \
  XDG_DATA_HOME="$work/home/.local/share" XDG_RUNTIME_DIR="$work/home/run" \
  DOCKER_CONFIG="$work/home/.docker"
mkdir -p "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME" "$XDG_DATA_HOME" "$XDG_RUNTIME_DIR" "$DOCKER_CONFIG"
pypi_isolate_env
export UV_CACHE_DIR="$work/home/.cache/uv"

# ---- helpers ----------------------------------------------------------------------------------
ok()    { echo "ok - $*" | tee -a "$RESULTS"; }
notok() { echo "not ok - $*" | tee -a "$RESULTS"; }
# logcmd LINE: a command line for the log, API tokens shortened.
logcmd() { printf '+ %s\n' "$*" | sed -E 's/stw_[0-9a-f]{16}_[0-9a-f]+/stw_…/g' >>"$LOG"; }
# check WHAT CMD...: runs CMD (output to the log) and records ok/not ok.
check() {
  local what="$1"; shift
  logcmd "[check] $*"
  if "$@" >>"$LOG" 2>&1; then ok "$what"; else notok "$what"; show_last; fi
}
# show_last: prints the last logged command and (up to 20 lines of) its output, indented.
show_last() { awk '/^\+ /{n=NR} {l[NR]=$0} END{for(i=n;i<=NR&&i<n+20;i++) print "#   " l[i]}' "$LOG"; }
# run CMD...: a client step whose output only goes to the log; failing aborts the section.
run() { logcmd "$*"; "$@" >>"$LOG" 2>&1; }
# out CMD...: like run, but CMD's stdout is the function's output.
out() { logcmd "$*"; "$@" 2>>"$LOG"; }
# capture FILE CMD...: like run, with CMD's output (both streams) also in FILE.
capture() { local f="$1"; shift; logcmd "$*"; "$@" >"$f" 2>&1; local rc=$?; cat "$f" >>"$LOG"; return $rc; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
fails() { if "$@"; then return 1; fi; }
same() { [ "$1" = "$2" ] || { echo "differ: '$1' != '$2'"; return 1; }; }
# fails_saying TEXT CMD...: CMD fails and its output mentions TEXT (case-insensitive).
fails_saying() {
  local text="$1" o; shift
  if o="$("$@" 2>&1)"; then echo "$o"; echo "expected a failure"; return 1; fi
  echo "$o"
  grep -qiF -- "$text" <<<"$o" || { echo "the output does not say '$text'"; return 1; }
}
# http FILE CURL-ARGS...: one request; body in FILE, headers in FILE.h; prints the status code.
http() {
  local f="$1"; shift
  logcmd "curl $*"
  curl -sS -o "$f" -D "$f.h" -w '%{http_code}' "$@" 2>>"$LOG" || true
}
# header NAME FILE.h: the value of the last such header (case-insensitive).
header() {
  awk -v name="$1" 'BEGIN { name = tolower(name) }
    { line = $0; sub(/\r$/, "", line); i = index(line, ":");
      if (i > 0 && tolower(substr(line, 1, i - 1)) == name) { v = substr(line, i + 1); sub(/^[ \t]+/, "", v); val = v } }
    END { print val }' "$2"
}
# code_is WANT... FILE: the status recorded by `http` into FILE.code is one of WANT.
code_is() {
  local f="${*: -1}" got w; got="$(cat "$f.code")"
  for w in "${@:1:$#-1}"; do [ "$got" = "$w" ] && return 0; done
  echo "status $got, want ${*:1:$#-1}; headers and body:"; cat "$f.h" "$f" 2>/dev/null | head -c 2000; echo
  return 1
}
# redirects_to FILE PATH: the answer recorded into FILE is a 301 or 308 to PATH (a relative or
# an absolute Location).
redirects_to() {
  local loc; loc="$(header Location "$1.h")"
  code_is 301 308 "$1" || return 1
  case "$loc" in "$2"|http://*/"${2#/}") ;; *) echo "Location: $loc, want $2"; return 1 ;; esac
}
# req FILE CURL-ARGS...: like http, with the status in FILE.code (for code_is).
req() { local f="$1"; http "$@" >"$f.code"; }
WAUTH=(-u "__token__:$WRITER")
tw() { # tw TOKEN TWINE-UPLOAD-ARGS...
  local token="$1"; shift
  "$VENV/bin/twine" upload --non-interactive --disable-progress-bar -u __token__ -p "$token" "$@"
}
# tw6 TOKEN TWINE-UPLOAD-ARGS...: the same with twine 6.1.0, for --skip-existing (twine 6.2 and
# later refuse that option for any index but PyPI's own, without sending anything).
tw6() {
  local token="$1"; shift
  "$TWINE6_VENV/bin/twine" upload --non-interactive --disable-progress-bar -u __token__ -p "$token" "$@"
}
# form_upload URL FILE NAME VERSION [CURL-ARGS...]: the legacy upload form, as twine sends it.
form_upload() {
  local url="$1" file="$2" name="$3" version="$4"; shift 4
  local filetype=sdist pyversion=source
  case "$file" in *.whl) filetype=bdist_wheel pyversion=py3 ;; esac
  curl -sS -o "$work/form.out" -D "$work/form.out.h" -w '%{http_code}' "$@" \
    -F ':action=file_upload' -F protocol_version=1 -F metadata_version=2.1 \
    -F "name=$name" -F "version=$version" -F "filetype=$filetype" -F "pyversion=$pyversion" \
    -F "sha256_digest=$(sha "$file")" -F "content=@$file" "$url"
}
# same_freeze FILE: FILE (pip/uv freeze output) lists exactly the pinned versions.
same_freeze() { diff <(pypi_pinned_freeze) <(pypi_norm_freeze <"$1"); }
# sums_json DIR...: [{filename, sha256}] of the files in DIR..., sorted by name.
sums_json() {
  local f
  for f in "$@"; do printf '{"filename":"%s","sha256":"%s"}\n' "${f##*/}" "$(sha "$f")"; done |
    jq -s 'sort_by(.filename)'
}

# section NAME FUNC: runs FUNC in its own dir, in a subshell with errexit; a failing step ends the
# section with one `not ok` naming the last client command, followed by its output.
section() {
  local name="$1" fn="$2"
  printf '\n# %s\n' "$name"
  mkdir -p "$work/$name"
  ( cd "$work/$name" && "$fn" ) &
  if ! wait $!; then
    notok "$name: section aborted after: $(grep '^+ ' "$LOG" | tail -n 1 | cut -c3-)"
    show_last
  fi
}

# ---- 1. build: the test project, offline ----------------------------------------------------
# make_project VERSION VARIANT METADATA-VERSION OUTDIR: the template filled in, built into a
# wheel and an sdist by `python -m build --no-isolation` (hatchling from the venv).
make_project() {
  local src="$work/build/src-$1-$2"
  cp -r "$PYPI_FIXTURES/testpkg" "$src"
  find "$src" -type f -exec sed -i "s/@VERSION@/$1/g; s/@VARIANT@/$2/g; s/@METADATA@/$3/g" {} +
  run env PIP_NO_INDEX=1 "$PY" -m build --no-isolation --outdir "$4" "$src"
}
sec_build() {
  make_project 1.0.0 main 2.4 "$DIST"
  make_project 1.1.0 main 2.4 "$DIST"
  make_project 0.9.0 uv 2.5 "$DIST_UV"
  make_project 1.0.0 conflict 2.4 "$DIST_CONFLICT"
  check "build: wheel and sdist of TestPkg 1.0.0 and 1.1.0 (for twine), 0.9.0 (for uv) built offline" \
    ls "$DIST/$WHEEL" "$DIST/testpkg-1.0.0.tar.gz" "$DIST/testpkg-1.1.0-py3-none-any.whl" \
    "$DIST/testpkg-1.1.0.tar.gz" "$DIST_UV/testpkg-0.9.0-py3-none-any.whl" "$DIST_UV/testpkg-0.9.0.tar.gz"
  check "build: a second 1.0.0 wheel with other content has other bytes (for the conflict)" \
    fails cmp "$DIST/$WHEEL" "$DIST_CONFLICT/$WHEEL"
  check "build: core metadata 2.4 in the twine wheels, 2.5 in uv's" \
    same "$(unzip -p "$DIST/$WHEEL" '*/METADATA' | head -1) $(unzip -p "$DIST_UV/testpkg-0.9.0-py3-none-any.whl" '*/METADATA' | head -1)" \
    "Metadata-Version: 2.4 Metadata-Version: 2.5"
}

# ---- 2. twine ---------------------------------------------------------------------------------
sec_twine() {
  check "twine: upload of 1.0.0 and 1.1.0 (wheels, sdists) with __token__ and a writer token" \
    tw "$WRITER" --repository-url "$UPLOAD" "$DIST"/*
  out curl -sSf "${WAUTH[@]}" "$MGMT/projects/testpkg" >project.json
  check "twine: the management API lists those 4 files with their sha256" \
    jq -e --argjson want "$(sums_json "$DIST"/*)" '[.files[] | {filename, sha256}] | sort_by(.filename) == $want' project.json
  check "twine 6.1: re-upload of the same files with --skip-existing succeeds" \
    tw6 "$WRITER" --repository-url "$UPLOAD" --skip-existing "$DIST"/*
  check "twine: re-upload of the same files without --skip-existing succeeds too (same bytes)" \
    tw "$WRITER" --repository-url "$UPLOAD" "$DIST"/*
  check "twine: other bytes under an existing filename are refused, saying \"already exists\"" \
    fails_saying "already exists" tw "$WRITER" --repository-url "$UPLOAD" "$DIST_CONFLICT/$WHEEL"
  check "twine 6.1: with --skip-existing that conflicting file is skipped" \
    capture skipped.txt tw6 "$WRITER" --repository-url "$UPLOAD" --skip-existing "$DIST_CONFLICT/$WHEEL"
  check "twine 6.1: ... and says so (\"Skipping\")" grep -qi "skipping $WHEEL" skipped.txt
  out curl -sSf "${WAUTH[@]}" -o served.whl "$FILES/testpkg/$WHEEL"
  check "twine: the served 1.0.0 wheel is still the first upload" cmp "$DIST/$WHEEL" served.whl
  check "twine: a viewer token's upload is refused (403)" \
    fails_saying "403" tw "$VIEWER" --repository-url "$UPLOAD" "$DIST_UV/testpkg-0.9.0.tar.gz"
  check "twine: a wrong token is refused (401)" \
    fails_saying "401" tw "$WRONG" --repository-url "$UPLOAD" "$DIST_UV/testpkg-0.9.0.tar.gz"
  # twine and uv both refuse to upload without credentials before sending anything: curl sends
  # the form twine would.
  local code; code="$(out form_upload "$UPLOAD" "$DIST_UV/testpkg-0.9.0.tar.gz" testpkg 0.9.0)"
  check "upload without credentials is refused: 401 with a Basic challenge" \
    sh -c "[ '$code' = 401 ] && grep -qi '^www-authenticate: Basic' '$work/form.out.h'"
  out curl -sSf "${WAUTH[@]}" "$MGMT/projects/testpkg" >project-after.json
  check "twine: the refused uploads stored nothing (still 4 files)" jq -e '.files | length == 4' project-after.json
}

# ---- 3. uv publish ------------------------------------------------------------------------
sec_uv() {
  # --check-url carries the credentials: uv sends its first check without the publish ones.
  check "uv publish: 0.9.0 (wheel, sdist) with --check-url" \
    "$UV" publish --publish-url "$UPLOAD" --check-url "$SIMPLE_W" -u __token__ -p "$WRITER" "$DIST_UV"/*
  check "uv publish: the same files again with --check-url succeeds" \
    capture again.txt "$UV" publish --publish-url "$UPLOAD" --check-url "$SIMPLE_W" -u __token__ -p "$WRITER" "$DIST_UV"/*
  check "uv publish: ... and skips both, as they are on the index" \
    same "$(grep -c 'already exists, skipping' again.txt)" 2
  out curl -sSf "${WAUTH[@]}" "$MGMT/projects/testpkg" >project.json
  check "uv publish: the management API has the 0.9.0 files with their sha256" \
    jq -e --argjson want "$(sums_json "$DIST_UV"/*)" '[.files[] | select(.version == "0.9.0") | {filename, sha256}] | sort_by(.filename) == $want' project.json
}

# ---- 4. a real package set: upload, then pip and uv resolve and install from Stowage ---------
sec_real() {
  local n="$PYPI_SET_COUNT"
  check "package set: one cached wheel per pinned requirement ($n)" \
    same "$(pypi_pinned_freeze | wc -l)" "$n"
  check "twine: upload of the $n wheels of the package set" \
    tw "$WRITER" --repository-url "$UPLOAD" "$PYPI_SET"/*
  out curl -sSf "${WAUTH[@]}" "$MGMT/projects" >projects.json
  check "management API: $((n + 1)) projects (the set and testpkg)" \
    jq -e --argjson n $((n + 1)) '.projects | length == $n' projects.json
  check "management API: ruamel.yaml is listed as ruamel-yaml with its display name" \
    jq -e '[.projects[] | select(.name == "ruamel-yaml")] | length == 1' projects.json

  run "$PIP" download --no-cache-dir --only-binary=:all: --index-url "$SIMPLE_V" -d dl -r "$PYPI_REQS"
  check "pip download -r (viewer token, no cache): the same $n filenames and sha256 as the cached download" \
    diff "$PYPI_SET_SUMS" <(cd dl && sha256sum -- * | sort -k2)

  run "$PY" -m venv --without-pip pip-venv
  check "pip install -r into a fresh venv" \
    "$PIP" --python pip-venv/bin/python install --no-cache-dir --index-url "$SIMPLE_V" -r "$PYPI_REQS"
  out "$PIP" --python pip-venv/bin/python list --format=freeze >pip-freeze.txt
  check "pip install: the installed versions are the pinned ones" same_freeze pip-freeze.txt
  check "pip install: the packages import (binary ones included)" pip-venv/bin/python -c \
    'import requests, flask, yaml, pydantic, pydantic_core, msgpack, markupsafe, charset_normalizer, rich, httpx, ruamel.yaml, dateutil, pytest'

  run "$UV" venv --python "$PY" uv-venv
  check "uv pip install -r into a fresh venv (uv venv)" \
    "$UV" pip install --python uv-venv/bin/python --index-url "$SIMPLE_V" -r "$PYPI_REQS"
  out "$UV" pip freeze --python uv-venv/bin/python >uv-freeze.txt
  check "uv pip install: uv pip freeze is the pinned list" same_freeze uv-freeze.txt
  run "$UV" venv --python "$PY" uv-venv-nocache
  check "uv pip install --no-cache -r into another fresh venv" \
    "$UV" pip install --no-cache --python uv-venv-nocache/bin/python --index-url "$SIMPLE_V" -r "$PYPI_REQS"
  out "$UV" pip freeze --python uv-venv-nocache/bin/python >uv-freeze-nocache.txt
  check "uv pip install --no-cache: uv pip freeze is the pinned list" same_freeze uv-freeze-nocache.txt
  check "uv pip install --no-cache: the packages import" uv-venv-nocache/bin/python -c \
    'import requests, flask, yaml, pydantic, msgpack, rich, httpx, ruamel.yaml'
}

# ---- 5. the Simple API's formats, by curl ---------------------------------------------------
sec_index() {
  local wsha size meta etag
  wsha="$(sha "$DIST/$WHEEL")"
  size="$(stat -c %s "$DIST/$WHEEL")"
  req page.json "${WAUTH[@]}" -H 'Accept: application/vnd.pypi.simple.v1+json' "${SIMPLE}testpkg/"
  check "JSON: project page is 200 application/vnd.pypi.simple.v1+json" \
    sh -c "grep -q '^200$' page.json.code && grep -qi '^content-type: application/vnd.pypi.simple.v1+json' page.json.h"
  check "JSON: meta.api-version is 1.x" jq -e '.meta["api-version"] | test("^1\\.[0-9]+$")' page.json
  check "JSON: hashes.sha256 of every file is the sha256 of the uploaded file" \
    jq -e --argjson want "$(sums_json "$DIST"/* "$DIST_UV"/*)" \
    '[.files[] | {filename, sha256: .hashes.sha256}] | sort_by(.filename) == $want' page.json
  check "JSON: the wheel has requires-python >=3.8, its size, an upload-time (PEP 700)" \
    jq -e --arg f "$WHEEL" --argjson size "$size" '.files[] | select(.filename == $f) |
      .["requires-python"] == ">=3.8" and .size == $size and
      (.["upload-time"] | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$"))' page.json
  check "JSON: versions are 0.9.0, 1.0.0, 1.1.0 in order (PEP 700)" \
    jq -e '.versions == ["0.9.0", "1.0.0", "1.1.0"]' page.json
  req root.json "${WAUTH[@]}" -H 'Accept: application/vnd.pypi.simple.v1+json' "$SIMPLE"
  check "JSON: the root index lists testpkg and the package set" \
    diff <({ echo testpkg; pypi_pinned_freeze | cut -d= -f1; } | sort) \
    <(jq -r '.projects[].name | ascii_downcase | gsub("[-_.]+"; "-")' root.json | sort)

  req page.html "${WAUTH[@]}" "${SIMPLE}testpkg/"
  check "HTML: project page is 200 text/html" \
    sh -c "grep -q '^200$' page.html.code && grep -qi '^content-type: text/html' page.html.h"
  check "HTML: has <meta name=\"pypi:repository-version\"" grep -qF '<meta name="pypi:repository-version"' page.html
  check "HTML: the wheel's link ends in #sha256=<its sha256>" grep -qF "$WHEEL#sha256=$wsha\"" page.html

  req redirect "${WAUTH[@]}" "${SIMPLE}TestPkg/"
  check "simple/TestPkg/ redirects (301/308) to the normalized simple/testpkg/" \
    redirects_to redirect "/api/v1/$ORG/$REG/python/simple/testpkg/"
  req unknown "${WAUTH[@]}" "${SIMPLE}no-such-project/"
  check "an unknown project is 404" code_is 404 unknown

  meta="$(jq -r --arg f "$WHEEL" '.files[] | select(.filename == $f) | .["core-metadata"].sha256' page.json)"
  req metadata "${WAUTH[@]}" "$FILES/testpkg/$WHEEL.metadata"
  check "PEP 658: the .metadata file's sha256 is the advertised core-metadata hash" \
    sh -c "grep -q '^200$' metadata.code && [ \"\$(sha256sum metadata | cut -d' ' -f1)\" = '$meta' ]"
  check "PEP 658: the .metadata file is the wheel's METADATA" \
    cmp metadata <(unzip -p "$DIST/$WHEEL" 'testpkg-1.0.0.dist-info/METADATA')

  req range "${WAUTH[@]}" -H 'Range: bytes=0-9' "$FILES/testpkg/$WHEEL"
  check "a file with Range: bytes=0-9 is 206 with its first 10 bytes" \
    bash -c "grep -q '^206$' range.code && cmp range <(head -c 10 '$DIST/$WHEEL')"
  req file "${WAUTH[@]}" "$FILES/testpkg/$WHEEL"
  etag="$(header ETag file.h)"
  check "a file is 200 with the uploaded bytes and an ETag" \
    sh -c "grep -q '^200$' file.code && cmp file '$DIST/$WHEEL' && [ -n '$etag' ]"
  req file304 "${WAUTH[@]}" -H "If-None-Match: $etag" "$FILES/testpkg/$WHEEL"
  check "the file again with If-None-Match: <its ETag> is 304" code_is 304 file304
  etag="$(header ETag page.json.h)"
  req page304 "${WAUTH[@]}" -H 'Accept: application/vnd.pypi.simple.v1+json' -H "If-None-Match: $etag" "${SIMPLE}testpkg/"
  check "the project page again with If-None-Match: <its ETag> is 304" \
    sh -c "[ -n '$etag' ] && grep -q '^304$' page304.code"
}

# ---- 6. yank and un-yank through the management API (PEP 592) ------------------------------
# pick DIR SPEC: pip download --no-deps SPEC from Stowage into DIR (fresh); prints the filename.
pick() {
  rm -rf "$1"
  run "$PIP" download --no-cache-dir --no-deps --index-url "$SIMPLE_V" -d "$1" "$2"
  ls "$1"
}
sec_yank() {
  local reason="e2e: broken build"
  req yank "${WAUTH[@]}" -X POST -H 'Content-Type: application/json' -d "{\"reason\":\"$reason\"}" \
    "$MGMT/projects/testpkg/versions/1.1.0/yank"
  check "yank: POST …/versions/1.1.0/yank with a writer token succeeds" code_is 200 204 yank
  out curl -sSf "${WAUTH[@]}" "$MGMT/projects/testpkg" >project.json
  check "yank: the management API shows both 1.1.0 files yanked, the others not" \
    jq -e '[.files[] | select(.yanked) | .filename] | sort == ["testpkg-1.1.0-py3-none-any.whl", "testpkg-1.1.0.tar.gz"]' project.json
  req page.json "${WAUTH[@]}" -H 'Accept: application/vnd.pypi.simple.v1+json' "${SIMPLE}testpkg/"
  check "yank: the JSON index marks the 1.1.0 files yanked with the reason" \
    jq -e --arg r "$reason" '[.files[] | select(.yanked == $r) | .filename] | sort == ["testpkg-1.1.0-py3-none-any.whl", "testpkg-1.1.0.tar.gz"]' page.json
  req page.html "${WAUTH[@]}" "${SIMPLE}testpkg/"
  check "yank: the HTML index has data-yanked on the 1.1.0 links only" \
    same "$(grep -o 'testpkg-[0-9.]*[-.][^"#]*#[^>]*data-yanked' page.html | cut -d'#' -f1 | sort | tr '\n' ' ')" \
    "testpkg-1.1.0-py3-none-any.whl testpkg-1.1.0.tar.gz "
  check "yank: pip download testpkg picks 1.0.0 (1.1.0 is yanked)" same "$(pick latest testpkg)" "$WHEEL"
  check "yank: pip download testpkg==1.1.0 still gets the yanked 1.1.0 (pinned, PEP 592)" \
    same "$(pick pinned testpkg==1.1.0)" testpkg-1.1.0-py3-none-any.whl
  run "$UV" venv --python "$PY" uv-venv
  run "$UV" pip install --python uv-venv/bin/python --index-url "$SIMPLE_V" testpkg
  check "yank: uv pip install testpkg installs 1.0.0" \
    grep -qx 'testpkg==1.0.0' <(out "$UV" pip freeze --python uv-venv/bin/python)

  req unyank "${WAUTH[@]}" -X DELETE "$MGMT/projects/testpkg/versions/1.1.0/yank"
  check "un-yank: DELETE …/versions/1.1.0/yank succeeds" code_is 200 204 unyank
  req page2.json "${WAUTH[@]}" -H 'Accept: application/vnd.pypi.simple.v1+json' "${SIMPLE}testpkg/"
  check "un-yank: no file is yanked in the JSON index" jq -e '[.files[] | select(.yanked != false)] | length == 0' page2.json
  check "un-yank: pip download testpkg picks 1.1.0 again" same "$(pick again testpkg)" testpkg-1.1.0-py3-none-any.whl

  req yank1 "${WAUTH[@]}" -X POST -H 'Content-Type: application/json' -d '{"reason":"one file"}' \
    "$MGMT/projects/testpkg/files/testpkg-1.1.0-py3-none-any.whl/yank"
  check "yank of one file: POST …/files/testpkg-1.1.0-py3-none-any.whl/yank succeeds" code_is 200 204 yank1
  req page3.json "${WAUTH[@]}" -H 'Accept: application/vnd.pypi.simple.v1+json' "${SIMPLE}testpkg/"
  check "yank of one file: only that wheel is yanked" \
    jq -e '[.files[] | select(.yanked != false) | .filename] == ["testpkg-1.1.0-py3-none-any.whl"]' page3.json
  req viewer-yank -u "__token__:$VIEWER" -X POST -H 'Content-Type: application/json' -d '{"reason":"no"}' \
    "$MGMT/projects/testpkg/versions/1.0.0/yank"
  check "yank: a viewer token may not yank (403)" code_is 403 viewer-yank
  req unyank1 "${WAUTH[@]}" -X DELETE "$MGMT/projects/testpkg/files/testpkg-1.1.0-py3-none-any.whl/yank"
  check "un-yank of one file: DELETE succeeds and nothing is yanked" \
    sh -c "grep -qE '^20[04]$' unyank1.code && curl -sSf -u '__token__:$WRITER' -H 'Accept: application/vnd.pypi.simple.v1+json' '${SIMPLE}testpkg/' | jq -e '[.files[] | select(.yanked != false)] | length == 0'"
}

# ---- 7. every file is an OCI artifact --------------------------------------------------------
# file_manifest REPO FILENAME: the digest of the manifest (a child of the version's index) whose
# layer is titled FILENAME.
file_manifest() {
  local repo="$1" file="$2" version d
  version="$(jq -rn --arg f "$file" '$f | capture("^[^-]+-(?<v>[^-]+)(-|\\.tar\\.gz$)").v')"
  out oras manifest fetch --plain-http "$repo:${version//+/_}" >"index-$file.json"
  for d in $(jq -r '.manifests[].digest' "index-$file.json"); do
    if out oras manifest fetch --plain-http "$repo@$d" |
      jq -e --arg f "$file" '[.layers[].annotations["org.opencontainers.image.title"]] | index($f) != null' >/dev/null; then
      echo "$d"; return 0
    fi
  done
  echo "no manifest of $repo:$version has a layer titled $file" >&2
  return 1
}
sec_oras() {
  local repo="$STOWAGE_ADDR/$ORG/$REG/python/testpkg" d
  printf %s "$VIEWER" | run oras login --plain-http -u __token__ --password-stdin "$STOWAGE_ADDR"
  check "oras: repo tags of …/python/testpkg are the versions" \
    same "$(out oras repo tags --plain-http "$repo" | sort | tr '\n' ' ')" "0.9.0 1.0.0 1.1.0 "
  out oras manifest fetch --plain-http "$repo:1.0.0" >index.json
  check "oras: tag 1.0.0 is an OCI image index of the 2 file manifests" \
    jq -e '.mediaType == "application/vnd.oci.image.index.v1+json" and (.manifests | length == 2)' index.json
  d="$(file_manifest "$repo" "$WHEEL")"
  check "oras: that file manifest is the one the management API names" \
    same "$d" "$(out curl -sSf "${WAUTH[@]}" "$MGMT/projects/testpkg" | jq -r --arg f "$WHEEL" '.files[] | select(.filename == $f) | .manifest')"
  run oras pull --plain-http -o pulled "$repo@$d"
  check "oras: pull of the wheel's manifest gives back the uploaded bytes" \
    same "$(sha pulled/$WHEEL)" "$(sha "$DIST/$WHEEL")"
  d="$(file_manifest "$repo" testpkg-1.0.0.tar.gz)"
  run oras pull --plain-http -o pulled-sdist "$repo@$d"
  check "oras: pull of the sdist's manifest gives back the uploaded bytes" \
    same "$(sha pulled-sdist/testpkg-1.0.0.tar.gz)" "$(sha "$DIST/testpkg-1.0.0.tar.gz")"
  local core; core="$(cd "$PYPI_SET" && ls pydantic_core-*.whl)"
  d="$(file_manifest "$STOWAGE_ADDR/$ORG/$REG/python/pydantic-core" "$core")"
  run oras pull --plain-http -o pulled-core "$STOWAGE_ADDR/$ORG/$REG/python/pydantic-core@$d"
  check "oras: pull of a real binary wheel ($core) gives back its bytes" \
    same "$(sha "pulled-core/$core")" "$(sha "$PYPI_SET/$core")"
  check "oras: pull of the tag 1.0.0 (the index) fetches both files of 1.0.0 (docs/python.md)" \
    sh -c "oras pull --plain-http -o pulled-tag '$repo:1.0.0' && cmp pulled-tag/$WHEEL '$DIST/$WHEEL' && cmp pulled-tag/testpkg-1.0.0.tar.gz '$DIST/testpkg-1.0.0.tar.gz'"
  echo "not a package" >evil.txt
  check "oras: a push into the python/ repository is refused, even for a writer (denied)" \
    fails_saying "denied" oras push --plain-http -u __token__ -p "$WRITER" "$repo:evil" evil.txt
}

# ---- 8. anonymous access: private and public registries -------------------------------------
sec_anon() {
  check "anonymous: pip download from the private registry fails" \
    fails "$PIP" download --no-cache-dir --no-deps --no-input --index-url "$SIMPLE" -d private testpkg
  req private "${SIMPLE}testpkg/"
  check "anonymous: the private index answers 401 with a Basic challenge" \
    sh -c "grep -q '^401$' private.code && grep -qi '^www-authenticate: Basic' private.h"
  run tw "$WRITER" --repository-url "$PUB_UPLOAD" "$DIST/$WHEEL" "$DIST/testpkg-1.0.0.tar.gz"
  check "anonymous: pip download from the public registry works without credentials" \
    same "$(rm -rf public; run "$PIP" download --no-cache-dir --no-deps --index-url "$PUB_SIMPLE" -d public testpkg && ls public)" "$WHEEL"
  check "anonymous: ... and gets the uploaded bytes" cmp "public/$WHEEL" "$DIST/$WHEEL"
  run "$UV" venv --python "$PY" uv-venv
  check "anonymous: uv pip install --no-cache from the public registry works" \
    "$UV" pip install --no-cache --python uv-venv/bin/python --index-url "$PUB_SIMPLE" testpkg
  local code; code="$(out form_upload "$PUB_UPLOAD" "$DIST/testpkg-1.1.0.tar.gz" testpkg 1.1.0)"
  check "anonymous: an upload to the public registry is refused (401)" same "$code" 401
  req anon-yank -X POST -H 'Content-Type: application/json' -d '{"reason":"no"}' \
    "$API/orgs/$ORG/registries/$PUB/python/projects/testpkg/versions/1.0.0/yank"
  check "anonymous: a yank on the public registry is refused (401)" code_is 401 anon-yank
}

# ---- 9. deleting a file (admin) --------------------------------------------------------------
sec_delete() {
  local f=testpkg-0.9.0.tar.gz
  req writer-del "${WAUTH[@]}" -X DELETE "$MGMT/projects/testpkg/files/$f"
  check "delete: a writer token may not delete a file (403)" code_is 403 writer-del
  req admin-del -u "__token__:$ADMIN" -X DELETE "$MGMT/projects/testpkg/files/$f"
  check "delete: an admin token deletes $f" code_is 200 204 admin-del
  req gone "${WAUTH[@]}" "$FILES/testpkg/$f"
  check "delete: the file is 404 afterwards" code_is 404 gone
  req page.json "${WAUTH[@]}" -H 'Accept: application/vnd.pypi.simple.v1+json' "${SIMPLE}testpkg/"
  check "delete: the index lists 5 files, not $f" \
    jq -e --arg f "$f" '(.files | length == 5) and ([.files[].filename] | index($f) == null)' page.json
  check "delete: the 0.9.0 index manifest keeps only the wheel" \
    sh -c "oras manifest fetch --plain-http '$STOWAGE_ADDR/$ORG/$REG/python/testpkg:0.9.0' | jq -e '.manifests | length == 1'"
}

echo "# stowage: $STOWAGE_URL (started by this script); package set: $PYPI_SET_COUNT wheels in $PYPI_SET"
t0=$SECONDS
section build sec_build
section twine sec_twine
section uv sec_uv
section real sec_real
section index sec_index
section yank sec_yank
section oras sec_oras
section anon sec_anon
section delete sec_delete

passed="$(grep -c '^ok' "$RESULTS" || true)"
failed="$(grep -c '^not ok' "$RESULTS" || true)"
echo
echo "# took $((SECONDS - t0)) s"
echo "pypi: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
