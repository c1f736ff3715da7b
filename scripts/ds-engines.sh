#!/usr/bin/env bash
# Real server engines for the DS's scale-out backend (issue 13): PostgreSQL (Debian packages, a
# throwaway cluster in a temp dir) and an S3-compatible server (s3s-fs from crates.io), both on
# free 127.0.0.1 ports.
#
#   scripts/ds-engines.sh install          # idempotent: apt postgresql, cargo install s3s-fs
#   eval "$(scripts/ds-engines.sh start)"  # starts both; prints `export MIMI_DS_TEST_META=… …`
#   scripts/ds-engines.sh stop             # stops what `start` started (state in $STATE)
#   scripts/ds-engines.sh status
#
# `start` writes its state to ${MIMI_DS_ENGINES_STATE:-/tmp/mimi-ds-engines} (pids, ports, env) so
# `stop` (and tests that restart an engine) find them. The variables exported:
#   MIMI_DS_TEST_META    postgres://postgres@127.0.0.1:PORT/postgres
#   MIMI_DS_TEST_BLOBS   s3://mimi?endpoint=http://127.0.0.1:PORT&region=us-east-1&access_key=…&secret_key=…
#   MIMI_DS_ENGINES_STATE  the state directory (pg_ctl data dir, s3s-fs root and pid)
set -euo pipefail

S3S_VERSION=0.14.1
STATE=${MIMI_DS_ENGINES_STATE:-/tmp/mimi-ds-engines}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
S3S=${S3S_FS:-$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")}
S3_KEY=mimi-test
S3_SECRET=mimi-test-secret-key
BUCKET=mimi

log() { echo "ds-engines: $*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install() {
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    log "installing postgresql (apt)"
    local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq postgresql >&2
  fi
  if ! { [ -x "$S3S" ] && "$S3S" --version 2>/dev/null | grep -q "$S3S_VERSION"; }; then
    log "installing s3s-fs $S3S_VERSION (a few minutes on 2 cores)"
    cargo install --locked s3s-fs --version "$S3S_VERSION" --features binary >&2
  fi
}

start_pg() {
  local port dir
  port=$(free_port)
  dir="$STATE/pg"
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_pg "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres >"$STATE/initdb.log" 2>&1
  fi
  echo "$port" >"$STATE/pg.port"
  pg_ctl_start
}

# (Re)starts the cluster on its recorded port (tests call `restart-pg`).
pg_ctl_start() {
  local port dir
  port=$(cat "$STATE/pg.port")
  dir="$STATE/pg"
  as_pg "$PGBIN/pg_ctl" -D "$dir/data" \
    -o "-k $dir -p $port -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off" \
    -l "$dir/log" -w start >&2
}

start_s3() {
  local port root
  port=$(free_port)
  root="$STATE/s3"
  mkdir -p "$root/$BUCKET"
  echo "$port" >"$STATE/s3.port"
  s3_run
}

s3_run() {
  local port
  port=$(cat "$STATE/s3.port")
  # setsid: its own process group, so `stop` never signals the caller's.
  setsid "$S3S" --host 127.0.0.1 --port "$port" --access-key "$S3_KEY" --secret-key "$S3_SECRET" \
    "$STATE/s3" >>"$STATE/s3.log" 2>&1 </dev/null &
  echo $! >"$STATE/s3.pid"
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "s3s-fs did not start (see $STATE/s3.log)"
  return 1
}

stop_s3() {
  if [ -f "$STATE/s3.pid" ]; then
    local pid
    pid=$(cat "$STATE/s3.pid")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$STATE/s3.pid"
  fi
}

stop_pg() {
  if [ -f "$STATE/pg/data/postmaster.pid" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$STATE/pg/data" -m fast -w stop >&2 || true
  fi
}

print_env() {
  local pgp s3p
  pgp=$(cat "$STATE/pg.port")
  s3p=$(cat "$STATE/s3.port")
  echo "export MIMI_DS_ENGINES_STATE='$STATE'"
  echo "export MIMI_DS_TEST_META='postgres://postgres@127.0.0.1:$pgp/postgres'"
  echo "export MIMI_DS_TEST_BLOBS='s3://$BUCKET?endpoint=http://127.0.0.1:$s3p&region=us-east-1&access_key=$S3_KEY&secret_key=$S3_SECRET'"
}

case "${1:-}" in
  install) install ;;
  start)
    stop_s3; stop_pg
    rm -rf "$STATE"; mkdir -p "$STATE"; chmod 755 "$STATE"
    start_pg
    start_s3
    print_env | tee "$STATE/env" ;;
  env) print_env ;;
  stop) stop_s3; stop_pg; rm -rf "$STATE" ;;
  # For fault tests: stop/start one engine, keeping its port and data.
  stop-s3) stop_s3 ;;
  start-s3) s3_run ;;
  restart-pg) as_pg "$PGBIN/pg_ctl" -D "$STATE/pg/data" -m fast -w stop >&2; pg_ctl_start ;;
  status)
    [ -f "$STATE/s3.pid" ] && kill -0 "$(cat "$STATE/s3.pid")" 2>/dev/null && echo "s3s-fs: running" || echo "s3s-fs: stopped"
    [ -f "$STATE/pg/data/postmaster.pid" ] && echo "postgres: running" || echo "postgres: stopped" ;;
  *) echo "usage: $0 install|start|stop|env|status|stop-s3|start-s3|restart-pg" >&2; exit 2 ;;
esac
