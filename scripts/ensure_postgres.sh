#!/usr/bin/env bash
# The catalog's PostgreSQL tests need a server at 127.0.0.1:5432 (trust auth for user postgres, as
# on Debian's default cluster). Start the machine's cluster if it is installed but down; install it
# where we are root and it is missing. Prints what it did; never fails the run by itself (the tests
# say clearly when no server answers).
set -uo pipefail
ready() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null || python3 - <<'PY'
import socket, sys
s = socket.socket(); s.settimeout(1)
sys.exit(0 if s.connect_ex(("127.0.0.1", 5432)) == 0 else 1)
PY
}
ready && exit 0
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "ensure_postgres: installing postgresql"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null 2>&1 || true
fi
if command -v pg_ctlcluster >/dev/null; then
  for v in $(ls /usr/lib/postgresql 2>/dev/null); do
    echo "ensure_postgres: starting cluster $v/main"
    pg_ctlcluster "$v" main start 2>/dev/null || true
  done
fi
for _ in $(seq 1 30); do ready && exit 0; sleep 1; done
echo "ensure_postgres: no PostgreSQL answers at 127.0.0.1:5432; the PostgreSQL catalog tests will fail"
