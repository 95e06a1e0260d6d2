#!/bin/sh
# petsem container entrypoint. Runs as root only long enough to prepare the volume, then runs
# petsem as the unprivileged user "petsem".
#  1. Restore swap (infra/KEYS.md): an operator restores into $DB.restore with
#     `petsem backup restore` and restarts the machine; the current database is kept beside it.
#  2. Empty volume + replica configured (a new machine after a volume loss): restore the latest
#     backup first, so petsem never starts a fresh database over a lost one. `petsem backup
#     restore` opens the restored copy with PETSEM_KEK before it writes anything.
#  3. `petsem serve`, through with-audit-shipper: the audit log directory (PETSEM_AUDIT_DIR) is
#     created owned by petsem, mode 700, and Vector runs beside petsem shipping it. With
#     PETSEM_LITESTREAM_REPLICA set, petsem itself runs Litestream (continuous replication; final
#     sync on SIGTERM). See apps/petsem/src/litestream.ts.
set -eu

DATA_DIR="${PETSEM_DATA_DIR:-/data}"
DB="$DATA_DIR/petsem.db"
PETSEM="/app/node_modules/.bin/tsx /app/apps/petsem/src/cli.ts"

mkdir -p "$DATA_DIR"

if [ -f "$DB.restore" ]; then
  ts="$(date -u +%Y%m%dT%H%M%SZ)"
  for f in "$DB" "$DB-wal" "$DB-shm"; do
    if [ -e "$f" ]; then mv "$f" "$f.before-restore-$ts"; fi
  done
  mv "$DB.restore" "$DB"
  echo "petsem-entrypoint: database replaced by the operator's restore (previous kept as *.before-restore-$ts)" >&2
fi

chown -R petsem:petsem "$DATA_DIR"
chmod 0700 "$DATA_DIR"

if [ -z "${PETSEM_LITESTREAM_REPLICA:-}" ]; then
  echo "petsem-entrypoint: PETSEM_LITESTREAM_REPLICA is not set: running WITHOUT continuous backup" >&2
elif [ ! -e "$DB" ]; then
  attempt=1
  until gosu petsem $PETSEM backup restore --output "$DB"; do
    if [ "$attempt" -ge 3 ]; then
      # First deploy (no backup yet), or the replica is unreachable: say so loudly.
      echo "petsem-entrypoint: no backup could be restored after $attempt attempts: starting with an EMPTY database" >&2
      break
    fi
    sleep $((attempt * 5))
    attempt=$((attempt + 1))
  done
fi

# The audit directory (PETSEM_AUDIT_DIR, fly.toml) is created for user petsem, mode 700, Vector
# ships it, and petsem serve replaces this shell as user petsem (infra/audit/with-shipper.sh).
# shellcheck disable=SC2086 # $PETSEM is a command and its arguments
exec /usr/local/bin/with-audit-shipper petsem PETSEM_AUDIT_DIR petsem-audit $PETSEM serve
