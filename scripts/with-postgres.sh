#!/usr/bin/env bash
# Usage: scripts/with-postgres.sh CMD [ARG...]
#
# Starts a throwaway PostgreSQL 15 cluster, runs CMD against it, then stops the cluster and deletes it,
# whatever CMD did (success, failure, Ctrl-C). Exits with CMD's exit code.
#
# The cluster lives in a fresh temporary directory (data, log, Unix socket), trusts local connections, listens only
# on 127.0.0.1 on a private port (54329, or the next free one of a few), and runs with fsync=off: it is for tests only.
# CMD sees:
#   PGHOST=127.0.0.1 PGPORT=<port> PGUSER=postgres PGDATABASE=postgres
#   FIELDSYNC_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:<port>/postgres
#   FIELDSYNC_TEST_POSTGRES_SOCKET_DIR=<directory of the Unix socket>
#
# Settings: PGBIN (default /usr/lib/postgresql/15/bin), FIELDSYNC_TEST_POSTGRES_PORT (first port to try, 54329).
# Run as root, the server runs as user `postgres` (initdb refuses root); run as another user, it runs as that user.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 CMD [ARG...]" >&2
    exit 2
fi

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
first_port=${FIELDSYNC_TEST_POSTGRES_PORT:-54329}
port_attempts=10

if [ ! -x "$PGBIN/initdb" ]; then
    echo "with-postgres: $PGBIN/initdb not found; installing the dependencies" >&2
    "$(dirname "$0")/install-deps.sh"
fi

as_server_user=()
if [ "$(id -u)" -eq 0 ]; then
    as_server_user=(runuser -u postgres --)
fi

# Under /tmp (sticky, world-traversable), never under $TMPDIR: that may sit in a 0700 home that user postgres
# cannot enter, and initdb then fails with "Permission denied".
PGROOT=$(mktemp -d /tmp/fieldsync-pg.XXXXXX)

cleanup() {
    local status=$?
    trap - EXIT INT TERM HUP
    if [ -f "$PGROOT/data/postmaster.pid" ]; then
        "${as_server_user[@]}" "$PGBIN/pg_ctl" -D "$PGROOT/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
            "${as_server_user[@]}" "$PGBIN/pg_ctl" -D "$PGROOT/data" -m immediate -w -t 30 stop >/dev/null 2>&1 ||
            echo "with-postgres: could not stop the server in $PGROOT" >&2
    fi
    rm -rf "$PGROOT"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

mkdir -p "$PGROOT/data" "$PGROOT/sock"
if [ "${#as_server_user[@]}" -gt 0 ]; then
    chown -R postgres:postgres "$PGROOT"
fi
"${as_server_user[@]}" "$PGBIN/initdb" -D "$PGROOT/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
    >"$PGROOT/initdb.log" 2>&1 || {
    cat "$PGROOT/initdb.log" >&2
    echo "with-postgres: initdb failed" >&2
    exit 1
}

port_in_use() {
    # A successful TCP connect means something already listens there.
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

port=""
for ((candidate = first_port; candidate < first_port + port_attempts; candidate++)); do
    port_in_use "$candidate" && continue
    rm -f "$PGROOT/server.log"
    if "${as_server_user[@]}" "$PGBIN/pg_ctl" -D "$PGROOT/data" -l "$PGROOT/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$candidate -c unix_socket_directories=$PGROOT/sock -c fsync=off" \
        start >/dev/null 2>&1; then
        port=$candidate
        break
    fi
    # Another process may have taken the port between the check and the start; anything else is fatal.
    if ! grep -qiE 'could not bind|address already in use' "$PGROOT/server.log" 2>/dev/null; then
        tail -n 20 "$PGROOT/server.log" >&2 2>/dev/null || true
        echo "with-postgres: the server did not start" >&2
        exit 1
    fi
done
if [ -z "$port" ]; then
    echo "with-postgres: no free port in $first_port-$((first_port + port_attempts - 1))" >&2
    exit 1
fi

"$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 30

export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres PGDATABASE=postgres
export FIELDSYNC_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$port/postgres"
export FIELDSYNC_TEST_POSTGRES_SOCKET_DIR="$PGROOT/sock"
echo "with-postgres: $("$PGBIN/postgres" --version) on 127.0.0.1:$port" >&2

# CMD runs in the foreground so that it keeps the terminal (an interactive psql works) and gets Ctrl-C itself.
# A signal to this script alone takes effect, through the traps above, once CMD has ended.
status=0
"$@" || status=$?
exit "$status"
