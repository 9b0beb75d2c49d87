#!/usr/bin/env bash
# End-to-end: real OCI clients (oras, crane, skopeo, helm, regctl) push to a registry and pull
# back, and every round trip must return the pushed bytes unchanged.
#
#   scripts/e2e/clients.sh                       starts its own `stowage serve` ($STOWAGE_BIN,
#                                                default target/debug/stowage)
#   REGISTRY=127.0.0.1:5000 scripts/e2e/clients.sh   uses a registry that is already running
#   KEEP=1 ...                                   keeps the work dir (client log, server log) on failure
#
# Prints `ok - <what>` / `not ok - <what>` per check and `clients: N passed, M failed`; exits 1 if
# anything failed. A client command that fails aborts only its own section (reported as not ok).
# All traffic is plain http; every repository is <org>/<registry>/<repo...> = e2e/clients/...
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/lib/tools.sh
source "$here/../lib/tools.sh"
# shellcheck source=scripts/lib/server.sh
source "$here/../lib/server.sh"

ensure_oras; ensure_crane; ensure_regctl; ensure_helm; ensure_skopeo; ensure_jq; ensure_curl

work="$(mktemp -d "${TMPDIR:-/tmp}/stowage-clients.XXXXXX")"
LOG="$work/clients.log"   # every client command and its output
RESULTS="$work/results"   # one ok/not ok line per check (sections run in subshells)
: >"$LOG"; : >"$RESULTS"
started=""

cleanup() {
  local rc=$?
  [ -z "$started" ] || stop_stowage
  if [ "$rc" -ne 0 ] && [ "${KEEP:-}" = 1 ]; then
    echo "kept work dir: $work (client log: $LOG${started:+, server log: $work/data.log})" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

if [ -n "${REGISTRY:-}" ]; then
  REG="$REGISTRY"
else
  STOWAGE_BIN="${STOWAGE_BIN:-$here/../../target/debug/stowage}"
  [ -x "$STOWAGE_BIN" ] || { echo "no stowage binary at $STOWAGE_BIN (build it, or set REGISTRY)" >&2; exit 1; }
  started=1   # before starting, so the trap stops a server that never came up
  start_stowage "$work/data"
  REG="$STOWAGE_ADDR"
  # Stowage refuses pushes to registries nobody created, and everything to strangers: sign in
  # as CI would, with a writer's API token of the organization.
  provision e2e clients
  TOKEN="$(new_token e2e writer)"
fi
TOKEN="${TOKEN:-${REGISTRY_TOKEN:-}}"
NS="$REG/e2e/clients"

# Clients keep config, credentials and caches in the work dir, never in the user's home.
# (Tools were installed above, so changing HOME no longer affects the tool cache.)
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" XDG_CACHE_HOME="$work/home/.cache" \
  XDG_DATA_HOME="$work/home/.local/share" XDG_RUNTIME_DIR="$work/home/run" \
  DOCKER_CONFIG="$work/home/.docker" REGISTRY_AUTH_FILE="$work/home/auth.json"
mkdir -p "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME" "$XDG_DATA_HOME" "$XDG_RUNTIME_DIR" "$DOCKER_CONFIG"
echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$work/policy.json"

# ---- helpers ----------------------------------------------------------------------------------
ok()    { echo "ok - $*" | tee -a "$RESULTS"; }
notok() { echo "not ok - $*" | tee -a "$RESULTS"; }
# check WHAT CMD...: runs CMD (output to the log) and records ok/not ok.
check() {
  local what="$1"; shift
  printf '+ [check] %s\n' "$*" >>"$LOG"
  if "$@" >>"$LOG" 2>&1; then ok "$what"; else notok "$what"; show_last; fi
}
# show_last: prints the last logged command and (up to 20 lines of) its output, indented.
show_last() { awk '/^\+ /{n=NR} {l[NR]=$0} END{for(i=n;i<=NR&&i<n+20;i++) print "#   " l[i]}' "$LOG"; }
# run CMD...: a client step whose output only goes to the log; failing aborts the section.
run() { printf '+ %s\n' "$*" >>"$LOG"; "$@" >>"$LOG" 2>&1; }
# out CMD...: like run, but CMD's stdout is the function's output.
out() { printf '+ %s\n' "$*" >>"$LOG"; "$@" 2>>"$LOG"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
fails() { if "$@"; then return 1; fi; }
same() { [ "$1" = "$2" ] || { echo "differ: '$1' != '$2'"; return 1; }; }

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

# ---- 0. sign-in: each client logs in with the API token (`__token__` as the user name) ------
sec_login() {
  if [ -z "$TOKEN" ]; then
    echo "# no token: the registry runs without authentication"
    return 0
  fi
  export TOKEN REG
  check "oras: a wrong token is refused at login" \
    fails sh -c 'printf %s "stw_0000000000000000_wrong" | oras login --plain-http -u __token__ --password-stdin "$REG"'
  check "oras: login with the API token" \
    sh -c 'printf %s "$TOKEN" | oras login --plain-http -u __token__ --password-stdin "$REG"'
  check "crane: auth login with the API token" \
    sh -c 'printf %s "$TOKEN" | crane auth login "$REG" -u __token__ --password-stdin'
  check "skopeo: login with the API token" \
    sh -c 'printf %s "$TOKEN" | skopeo login --tls-verify=false -u __token__ --password-stdin "$REG"'
  check "helm: registry login with the API token" \
    sh -c 'printf %s "$TOKEN" | helm registry login --plain-http -u __token__ --password-stdin "$REG"'
  run regctl registry set --tls disabled "$REG"
  check "regctl: registry login with the API token" \
    sh -c 'printf %s "$TOKEN" | regctl registry login "$REG" -u __token__ --pass-stdin'
  # Without credentials the same registry answers 401 with a token challenge.
  check "anonymous pull is refused with a Bearer challenge" \
    sh -c 'curl -s -o /dev/null -D - "http://$REG/v2/e2e/clients/anything/tags/list" | grep -qi "^www-authenticate: Bearer realm="'
}

# ---- 1. oras: files with media types, artifact type, manifest digest, attach + discover ---------
sec_oras() {
  local ref="$NS/oras-art" at=application/vnd.e2e.test.v1 sbom_at=application/vnd.e2e.sbom.v1+json
  mkdir push pulled attached sbom
  head -c $((3 * 1024 * 1024)) /dev/urandom >push/big.bin
  printf 'hello from stowage e2e\n' >push/note.txt
  printf '{"spdxVersion":"SPDX-2.3","name":"oras-art"}\n' >sbom/sbom.json

  local pushed digest
  pushed="$(cd push && out oras push --plain-http --format json --artifact-type "$at" \
    "$ref:v1" big.bin note.txt:application/vnd.e2e.note.v1+text)"
  digest="$(jq -r .digest <<<"$pushed")"
  run oras pull --plain-http -o pulled "$ref:v1"
  check "oras: pulled 3 MiB random file equals pushed" cmp push/big.bin pulled/big.bin
  check "oras: pulled text file (custom media type) equals pushed" cmp push/note.txt pulled/note.txt

  # The manifest bytes the registry serves hash to the digest oras computed when pushing.
  out oras manifest fetch --plain-http "$ref:v1" >manifest.json
  check "oras: fetched manifest hashes to pushed digest $digest" same "sha256:$(sha manifest.json)" "$digest"
  check "oras: manifest keeps artifactType and layer media type" \
    jq -e --arg at "$at" '.artifactType == $at and
      ([.layers[].mediaType] | index("application/vnd.e2e.note.v1+text")) != null' manifest.json

  # A referrer (subject = the artifact) is discoverable with its artifact type and pullable.
  local attached att_digest
  attached="$(cd sbom && out oras attach --plain-http --format json --artifact-type "$sbom_at" \
    "$ref:v1" sbom.json:application/spdx+json)"
  att_digest="$(jq -r .digest <<<"$attached")"
  out oras discover --plain-http --format json "$ref:v1" >discover.json
  check "oras: discover lists the attached artifact with its artifactType" \
    jq -e --arg at "$sbom_at" --arg d "$att_digest" \
    '[.. | objects | select(.artifactType? == $at and .digest? == $d)] | length == 1' discover.json
  run oras pull --plain-http -o attached "$ref@$att_digest"
  check "oras: attached artifact pulled by digest equals pushed" cmp sbom/sbom.json attached/sbom.json
}

# ---- 2. crane: image built without docker, copy across repos, blob/export, delete ---------------
sec_crane() {
  local src="$NS/crane-img:v1" dst="$NS/crane-copy:v1"
  mkdir rootfs exported
  head -c $((1024 * 1024)) /dev/urandom >rootfs/data.bin
  echo "crane layer" >rootfs/hello.txt
  tar --owner=0 --group=0 --numeric-owner -C rootfs -cf layer.tar data.bin hello.txt

  # `crane append` without a base builds a one-layer image from the tar (gzipped by crane);
  # it uses Docker v2 schema 2 media types, the other clients here push OCI ones.
  run crane append --insecure -f layer.tar -t "$src"
  local digest; digest="$(out crane digest --insecure "$src")"
  check "crane: ls lists tag v1" grep -qx v1 <(out crane ls --insecure "$NS/crane-img")

  out crane manifest --insecure "$src" >src-manifest.json
  check "crane: manifest hashes to its digest" same "sha256:$(sha src-manifest.json)" "$digest"

  run crane copy --insecure "$src" "$dst"
  check "crane: copy to another repo keeps the digest" same "$(out crane digest --insecure "$dst")" "$digest"
  out crane manifest --insecure "$dst" >dst-manifest.json
  check "crane: manifest bytes of source and copy are identical" cmp src-manifest.json dst-manifest.json

  # The layer blob (read from the copy) is what crane pushed: its hash is its digest and it
  # decompresses to our tar; the exported filesystem holds our random file.
  local layer; layer="$(jq -r '.layers[0].digest' src-manifest.json)"
  out crane blob --insecure "$NS/crane-copy@$layer" >layer.tar.gz
  check "crane: layer blob hashes to its digest" same "sha256:$(sha layer.tar.gz)" "$layer"
  check "crane: layer blob decompresses to the pushed tar" cmp layer.tar <(gzip -dc layer.tar.gz)
  out crane export --insecure "$src" - | tar -C exported -xf -
  check "crane: exported filesystem has the pushed bytes" cmp rootfs/data.bin exported/data.bin

  # Deleting the copy's manifest by digest makes it unfetchable there, and only there.
  # `crane push` of an OCI layout pulled from the registry: the pushed manifest is the same one.
  run crane pull --insecure --format=oci "$src" pulled-layout
  run crane push --insecure pulled-layout "$NS/crane-pushed:v1"
  check "crane: push of a pulled OCI layout keeps the digest" \
    same "$(out crane digest --insecure "$NS/crane-pushed:v1")" "$digest"

  run crane delete --insecure "$NS/crane-copy@$digest"
  check "crane: manifest of deleted copy is gone" fails crane manifest --insecure "$NS/crane-copy@$digest"
  check "crane: source still served after deleting the copy" \
    cmp src-manifest.json <(out crane manifest --insecure "$NS/crane-img@$digest")
}

# ---- 3. skopeo: multi-platform OCI index built by hand, copied up and back with digests kept ----
# make_layout DIR: writes an OCI image layout tagged v1 holding an index of two image manifests
# (linux/amd64, linux/arm64), each with its own config and one gzip layer.
make_layout() {
  python3 - "$1" <<'EOF'
import gzip, hashlib, io, json, os, sys, tarfile
root = sys.argv[1]
os.makedirs(f"{root}/blobs/sha256", exist_ok=True)
def blob(data, media_type, **extra):
    d = hashlib.sha256(data).hexdigest()
    with open(f"{root}/blobs/sha256/{d}", "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": f"sha256:{d}", "size": len(data), **extra}
def js(obj):
    return json.dumps(obj, indent=2).encode()
manifests = []
for arch in ("amd64", "arm64"):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        payload = f"platform linux/{arch}\n".encode() + os.urandom(64 * 1024)
        info = tarfile.TarInfo(f"{arch}.bin"); info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    layer_tar = buf.getvalue()
    layer = blob(gzip.compress(layer_tar, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip")
    config = blob(js({"architecture": arch, "os": "linux", "config": {},
                      "rootfs": {"type": "layers",
                                 "diff_ids": ["sha256:" + hashlib.sha256(layer_tar).hexdigest()]}}),
                  "application/vnd.oci.image.config.v1+json")
    manifest = js({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                   "config": config, "layers": [layer]})
    manifests.append(blob(manifest, "application/vnd.oci.image.manifest.v1+json",
                          platform={"architecture": arch, "os": "linux"}))
index = blob(js({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": manifests}),
             "application/vnd.oci.image.index.v1+json",
             annotations={"org.opencontainers.image.ref.name": "v1"})
with open(f"{root}/index.json", "wb") as f:
    f.write(js({"schemaVersion": 2, "manifests": [index]}))
with open(f"{root}/oci-layout", "w") as f:
    f.write('{"imageLayoutVersion": "1.0.0"}')
print(index["digest"])
EOF
}

# same_blobs A B: every blob of layout A is in layout B with the same bytes.
same_blobs() {
  local f rc=0
  for f in "$1"/blobs/sha256/*; do cmp "$f" "$2/blobs/sha256/${f##*/}" || rc=1; done
  return $rc
}

sec_skopeo() {
  local ref="$NS/skopeo-multi:v1" idx
  idx="$(make_layout layout)"
  run skopeo --policy "$work/policy.json" copy --all --preserve-digests --dest-tls-verify=false \
    oci:layout:v1 "docker://$ref"
  run skopeo --policy "$work/policy.json" copy --all --preserve-digests --src-tls-verify=false \
    "docker://$ref" oci:back:v1

  check "skopeo: pulled layout's index has the pushed digest" \
    same "$(jq -r '.manifests[0].digest' back/index.json)" "$idx"
  # Every blob we built (index, 2 manifests, 2 configs, 2 layers) comes back byte-identical.
  check "skopeo: all 7 blobs (index, manifests, configs, layers) round-trip byte-identical" \
    same_blobs layout back
  out crane manifest --insecure "$ref" >served-index.json
  check "skopeo: registry serves the tag as the exact index bytes built" \
    cmp "layout/blobs/sha256/${idx#sha256:}" served-index.json
}

# ---- 4. helm: chart pushed as OCI artifact and pulled back --------------------------------------
sec_helm() {
  run helm create mychart
  run helm package mychart
  run helm push mychart-0.1.0.tgz "oci://$NS/charts" --plain-http
  mkdir out
  run helm pull "oci://$NS/charts/mychart" --version 0.1.0 --plain-http -d out
  check "helm: pulled chart .tgz equals pushed" cmp mychart-0.1.0.tgz out/mychart-0.1.0.tgz
}

# ---- 5. regctl: image copy between repos; artifact put/get -------------------------------------
sec_regctl() {
  run regctl registry set --tls disabled "$REG"
  run regctl image copy "$NS/crane-img:v1" "$NS/regctl-copy:v1"
  check "regctl: image copy keeps the digest" \
    same "$(out regctl image digest "$NS/regctl-copy:v1")" "$(out regctl image digest "$NS/crane-img:v1")"

  head -c $((256 * 1024)) /dev/urandom >art.bin
  run regctl artifact put --artifact-type application/vnd.example.test "$NS/regctl-art:v1" <art.bin
  out regctl artifact get "$NS/regctl-art:v1" >art.out
  check "regctl: artifact get returns the put bytes" cmp art.bin art.out
  out regctl manifest get --format raw-body "$NS/regctl-art:v1" >art-manifest.json
  check "regctl: manifest carries the artifactType" \
    jq -e '.artifactType == "application/vnd.example.test"' art-manifest.json
}

if [ -n "$started" ]; then echo "# registry: $REG (stowage started by this script)"
else echo "# registry: $REG (already running)"; fi
t0=$SECONDS
section login sec_login
section oras sec_oras
section crane sec_crane
section skopeo sec_skopeo
section helm sec_helm
section regctl sec_regctl

passed="$(grep -c '^ok' "$RESULTS" || true)"
failed="$(grep -c '^not ok' "$RESULTS" || true)"
echo
echo "# took $((SECONDS - t0)) s"
echo "clients: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
