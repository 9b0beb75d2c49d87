#!/usr/bin/env bash
# kill -9 in the middle of uploads and pushes; everything acknowledged must survive a restart.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
python3 "$here/durability.py" "$STOWAGE_BIN" "$work" || { tail -30 "$work/server.log" >&2; exit 1; }
