# Shared by scripts/test and scripts/bench.d/waves: a throw-away PostgreSQL server on 127.0.0.1
# for the factory database's PostgreSQL engine. `start_postgres DIR` sets pg_url; `stop_postgres`
# stops the server by its PID (from postmaster.pid) and removes DIR. initdb and postgres refuse
# to run as root, so as root they run as the postgres user.
# shellcheck shell=bash
# shellcheck disable=SC2034 # pg_url is read by the scripts that source this file
start_postgres() {
  pg_dir=$1
  local pg_bin as_pg=() port
  pg_bin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -1)
  mkdir -p "$pg_dir"
  if [ "$(id -u)" = 0 ]; then chown postgres "$pg_dir"; as_pg=(runuser -u postgres --); fi
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${as_pg[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U postgres >"$pg_dir/initdb.log"
  "${as_pg[@]}" "$pg_bin/postgres" -D "$pg_dir/data" -h 127.0.0.1 -p "$port" -k "$pg_dir" \
    -c fsync=off -c max_connections=200 >"$pg_dir/server.log" 2>&1 &
  for _ in $(seq 100); do pg_isready -q -h 127.0.0.1 -p "$port" && break; sleep 0.2; done
  pg_isready -q -h 127.0.0.1 -p "$port" || { echo "PostgreSQL did not start:" >&2; cat "$pg_dir/server.log" >&2; return 1; }
  pg_url="postgres://postgres@127.0.0.1:$port/postgres"
}

stop_postgres() {
  [ -n "${pg_dir:-}" ] || return 0
  if [ -f "$pg_dir/data/postmaster.pid" ]; then
    local pid
    pid=$(head -1 "$pg_dir/data/postmaster.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$pg_dir"
}
