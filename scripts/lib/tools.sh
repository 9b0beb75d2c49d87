#!/usr/bin/env bash
# Tool installation for the test and bench scripts. Source it; it installs nothing by itself.
#
# Everything a script needs is installed here, pinned, so a fresh machine gets the same tools:
#   - Go tools with `go install MODULE@VERSION` into $STOWAGE_TOOLS/bin (a cache outside the
#     checkout, reused across runs and clones; a stamp file per tool records the version);
#   - Debian packages with apt-get, only when the command is missing.
# It never downloads a prebuilt binary from anywhere but the package registries.

export STOWAGE_TOOLS="${STOWAGE_TOOLS:-$HOME/.cache/stowage/tools}"
TOOLS_BIN="$STOWAGE_TOOLS/bin"
mkdir -p "$TOOLS_BIN" "$STOWAGE_TOOLS/stamps"
case ":$PATH:" in *":$TOOLS_BIN:"*) ;; *) export PATH="$TOOLS_BIN:$PATH" ;; esac

# Pinned versions, one place.
CONFORMANCE_MOD="github.com/opencontainers/distribution-spec/conformance@v0.0.0-20260831232431-97274622c111"
ORAS_MOD="oras.land/oras/cmd/oras@v1.3.6"
CRANE_MOD="github.com/google/go-containerregistry/cmd/crane@v0.22.1"
REGCTL_MOD="github.com/regclient/regclient/cmd/regctl@v0.11.7"
HELM_MOD="helm.sh/helm/v4/cmd/helm@v4.3.2"

log_step() { printf '\n==> %s\n' "$*" >&2; }

# ensure_go_tool BIN MODULE@VERSION: installs BIN into $TOOLS_BIN unless that version is there.
ensure_go_tool() {
  local bin="$1" mod="$2" stamp="$STOWAGE_TOOLS/stamps/$1"
  if [ -x "$TOOLS_BIN/$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$mod" ]; then
    return 0
  fi
  log_step "installing $bin ($mod)"
  GOBIN="$TOOLS_BIN" GOFLAGS="${GOFLAGS:-} -buildvcs=false" go install "$mod" >&2 || return 1
  echo "$mod" > "$stamp"
}

# ensure_apt CMD PACKAGE: installs the Debian package when CMD is missing.
_apt_updated=""
ensure_apt() {
  local cmd="$1" pkg="$2"
  command -v "$cmd" >/dev/null 2>&1 && return 0
  log_step "installing Debian package $pkg"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  if [ -z "$_apt_updated" ]; then
    $sudo apt-get update -qq >&2
    _apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$pkg" >&2
}

ensure_conformance() { ensure_go_tool conformance "$CONFORMANCE_MOD"; }
ensure_oras()        { ensure_go_tool oras "$ORAS_MOD"; }
ensure_crane()       { ensure_go_tool crane "$CRANE_MOD"; }
ensure_regctl()      { ensure_go_tool regctl "$REGCTL_MOD"; }
ensure_helm()        { ensure_go_tool helm "$HELM_MOD"; }
ensure_skopeo()      { ensure_apt skopeo skopeo; }
ensure_wrk()         { ensure_apt wrk wrk; }
ensure_docker_registry() { ensure_apt docker-registry docker-registry; }
ensure_curl()        { ensure_apt curl curl; }
ensure_jq()          { ensure_apt jq jq; }

# Python tools live in one virtual environment in the tool cache, pinned.
MOTO_VERSION="5.2.5"
VENV="$STOWAGE_TOOLS/venv"

# ensure_venv_pkg STAMP PIP-ARGS...: installs into $VENV unless the stamp matches.
ensure_venv_pkg() {
  local name="$1"; shift
  local stamp="$STOWAGE_TOOLS/stamps/venv-$name" want="$*"
  [ -x "$VENV/bin/python" ] || { log_step "creating $VENV"; python3 -m venv "$VENV" >&2; }
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
  log_step "installing $want"
  "$VENV/bin/pip" install -q --disable-pip-version-check "$@" >&2
  echo "$want" > "$stamp"
}

ensure_moto() { ensure_venv_pkg moto "moto[server]==$MOTO_VERSION"; }

# Python packaging tools for the PyPI end-to-end test and the bench, in the same venv: a recent
# pip (the venv's own is whatever python3 -m venv bundled), twine and uv (publish, install),
# build + hatchling (the test project's backend, so builds run with --no-isolation, offline),
# and pypiserver (with its directory-listing cache, served by gunicorn in the bench).
PYPI_TOOL_PINS=(
  "pip==26.3"
  "twine==7.0.0"
  "uv==0.13.9"
  "build==1.6.1"
  "hatchling==1.33.0"
  "pypiserver[cache]==2.4.2"
  "gunicorn==27.0.1"
)
ensure_pypi_tools() { ensure_venv_pkg pypi "${PYPI_TOOL_PINS[@]}"; }
# twine 6.2 and later refuse --skip-existing for any index but PyPI's own, before sending
# anything; 6.1.0 is the newest twine that still sends it to another index. Its own venv.
TWINE_SKIP_EXISTING_PIN="twine==6.1.0"
TWINE6_VENV="$STOWAGE_TOOLS/venv-twine6"
ensure_twine6() { VENV="$TWINE6_VENV" ensure_venv_pkg twine6 "$TWINE_SKIP_EXISTING_PIN"; }

# s3s-fs: a second S3 implementation, on the filesystem, that checks SigV4 signatures (the S3
# blob store's suite runs against it besides moto). Built with `cargo install` into the cache.
S3S_FS_VERSION="0.14.1"   # the newest that builds with this machine's rustc (0.15+ need 1.96)
ensure_s3s_fs() {
  local stamp="$STOWAGE_TOOLS/stamps/s3s-fs"
  if [ -x "$STOWAGE_TOOLS/cargo/bin/s3s-fs" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$S3S_FS_VERSION" ]; then
    return 0
  fi
  log_step "installing s3s-fs $S3S_FS_VERSION (cargo install)"
  cargo install -q --locked s3s-fs --version "$S3S_FS_VERSION" --features binary \
    --root "$STOWAGE_TOOLS/cargo" >&2 || return 1
  echo "$S3S_FS_VERSION" > "$stamp"
}

# cargo-lambda (its PyPI wheel carries the binary): `cargo lambda watch` runs the function
# binaries locally behind the Lambda runtime API, `cargo lambda build` packages them.
CARGO_LAMBDA_VERSION="1.9.2"
ensure_cargo_lambda() { ensure_venv_pkg cargo-lambda "cargo-lambda==$CARGO_LAMBDA_VERSION"; }
