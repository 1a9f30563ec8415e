# Sourced by .ci/run: start a throwaway PostgreSQL on 127.0.0.1:54329 for the ledger tests.
# Installs Debian's postgresql when it is missing. Exports MICRODRAMA_TEST_POSTGRES_URL.
PG_PORT=54329
PG_DATA=/tmp/microdrama-ci-pg
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "==> installing postgresql (Debian package)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
if ! "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then
  echo "==> starting PostgreSQL on 127.0.0.1:$PG_PORT"
  rm -rf "$PG_DATA" && mkdir -p "$PG_DATA" && chown postgres "$PG_DATA"
  su postgres -s /bin/sh -c "'$PG_BIN/initdb' -D '$PG_DATA' -A trust -U postgres" >/dev/null
  su postgres -s /bin/sh -c "'$PG_BIN/pg_ctl' -D '$PG_DATA' -l '$PG_DATA/log' -w -o '-p $PG_PORT -k /tmp -c listen_addresses=127.0.0.1' start" >/dev/null
fi
export MICRODRAMA_TEST_POSTGRES_URL="postgresql+pg8000://postgres@127.0.0.1:$PG_PORT/postgres"
