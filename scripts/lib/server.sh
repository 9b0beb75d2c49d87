#!/usr/bin/env bash
# Start and stop a real `stowage serve` for the end-to-end scripts. Source it.
#
#   start_stowage DATA_DIR [extra serve args...]   sets STOWAGE_PID, STOWAGE_ADDR (host:port),
#                                                  STOWAGE_URL (http://host:port)
#   stop_stowage                                   SIGTERM, wait
#   kill9_stowage                                  SIGKILL, wait (durability tests)
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
