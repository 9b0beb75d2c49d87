#!/usr/bin/env bash
# Start and stop a real `stowage serve` for the end-to-end scripts. Source it.
#
#   start_stowage DATA_DIR [extra serve args...]   sets STOWAGE_PID, STOWAGE_ADDR (host:port),
#                                                  STOWAGE_URL (http://host:port)
#   stop_stowage                                   SIGTERM, wait
#   kill9_stowage                                  SIGKILL, wait (durability tests)
#   stowage_admin ARGS...                          an admin subcommand on the server's data dir
#   provision ORG REGISTRY [registry flags...]     creates ORG (owned by admin) and ORG/REGISTRY
#   new_token ORG ROLE [token flags...]            prints a fresh API token
#
# The first user is `admin` with password $STOWAGE_ADMIN_PASSWORD (default e2e-admin-password).
#
# The binary is $STOWAGE_BIN (scripts/test builds it and exports the path).

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL [PID]: waits up to 30 s for any HTTP answer; gives up early if PID exits.
wait_http() {
  local url="$1" pid="${2:-}" _
  for _ in $(seq 1 300); do
    if curl -s -o /dev/null "$url"; then return 0; fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      echo "server for $url exited before answering" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "server at $url did not come up" >&2
  return 1
}

start_stowage() {
  local data="$1"; shift
  local port; port="$(free_port)"
  STOWAGE_ADDR="127.0.0.1:$port"
  STOWAGE_URL="http://$STOWAGE_ADDR"
  mkdir -p "$data"
  STOWAGE_DATA_DIR="$data"
  export STOWAGE_ADMIN_PASSWORD="${STOWAGE_ADMIN_PASSWORD-e2e-admin-password}" STOWAGE_DATA_DIR
  "$STOWAGE_BIN" serve --listen "$STOWAGE_ADDR" --data "$data" "$@" >>"$data.log" 2>&1 &
  STOWAGE_PID=$!
  export STOWAGE_ADDR STOWAGE_URL STOWAGE_PID
  wait_http "$STOWAGE_URL/v2/" "$STOWAGE_PID" || { tail -n 20 "$data.log" >&2; return 1; }
}

stop_stowage() {
  [ -n "${STOWAGE_PID:-}" ] || return 0
  kill -TERM "$STOWAGE_PID" 2>/dev/null || true
  wait "$STOWAGE_PID" 2>/dev/null || true
  STOWAGE_PID=""
}

kill9_stowage() {
  [ -n "${STOWAGE_PID:-}" ] || return 0
  kill -KILL "$STOWAGE_PID" 2>/dev/null || true
  wait "$STOWAGE_PID" 2>/dev/null || true
  STOWAGE_PID=""
}

stowage_admin() { "$STOWAGE_BIN" --data "$STOWAGE_DATA_DIR" "$@"; }

provision() {
  local org="$1" reg="$2"; shift 2
  if ! stowage_admin org list --user admin | cut -f1 | grep -qx "$org"; then
    stowage_admin org create "$org" --owner admin >/dev/null
  fi
  stowage_admin registry create "$org/$reg" "$@" >/dev/null
}

new_token() {
  local org="$1" role="$2"; shift 2
  stowage_admin token create "$org" --role "$role" --name "e2e-$role-$RANDOM" "$@" 2>/dev/null
}
