#!/bin/sh
# with-audit-shipper USER DIR_VARIABLE INDEX_PREFIX COMMAND [ARG…]
#
# Runs a service (tkdb or petsem) with its audit log directory prepared and Vector shipping it.
# Installed in both images as /usr/local/bin/with-audit-shipper; tkdb's runs it from LiteFS's
# `exec` (infra/tkdb/litefs.yml), petsem's from its entrypoint (infra/petsem/entrypoint.sh). It
# starts as root (LiteFS and the entrypoint are root) and runs everything else as USER.
#
#  1. The audit directory is the service's own variable (DIR_VARIABLE: TKDB_AUDIT_DIR or
#     PETSEM_AUDIT_DIR, set in fly.toml [env]), so the service and Vector read the same path by
#     construction. It is created before the service starts, owned by USER, mode 700, and so is
#     Vector's state directory inside it (vector.yaml `data_dir: ${AUDIT_DIR}/.vector`). Files an
#     operator left owned by root (a CLI run without `gosu USER`) are given back to USER, or the
#     service's start-time re-apply could not read its own CLI log (infra/FAILOVER.md).
#  2. Vector (infra/audit/vector.yaml, /etc/vector/vector.yaml) runs beside the service as USER
#     (it reads a mode-700 directory and keeps its read positions in it), restarted if it exits:
#     the log stays on the volume meanwhile and Vector resumes from its checkpoints. Without
#     OPENSEARCH_URL (a `fly secrets` value) Vector is not started and a warning says the log is
#     not shipped.
#  3. The service replaces this shell (signals from LiteFS or Fly reach it directly), as USER,
#     without the OpenSearch credentials in its environment.
#
# Neither Vector nor LiteFS is installable where this repository is tested:
# test-e2e/src/infra.test.ts checks this file statically (paths, owner, mode, order).
set -eu

if [ "$#" -lt 4 ]; then
  echo "usage: with-audit-shipper USER DIR_VARIABLE INDEX_PREFIX COMMAND [ARG...]" >&2
  exit 2
fi
user="$1"
dir_variable="$2"
index_prefix="$3"
shift 3

dir="$(printenv "$dir_variable" || true)"
case "$dir" in
  /*) ;;
  *)
    echo "with-audit-shipper: $dir_variable must be an absolute directory (it is '${dir}')" >&2
    exit 1
    ;;
esac

install -d -m 0700 -o "$user" -g "$user" "$dir"
install -d -m 0700 -o "$user" -g "$user" "$dir/.vector"
chown -R "$user:$user" "$dir"
chmod 0700 "$dir" "$dir/.vector"

if [ -n "${OPENSEARCH_URL:-}" ]; then
  (
    export AUDIT_DIR="$dir" AUDIT_INDEX_PREFIX="$index_prefix"
    while :; do
      gosu "$user" vector --config /etc/vector/vector.yaml || true
      echo "with-audit-shipper: vector exited; restarting in 5 s (the audit log stays on the volume)" >&2
      sleep 5
    done
  ) &
else
  echo "with-audit-shipper: OPENSEARCH_URL is not set: the audit log in $dir is NOT shipped" >&2
fi

exec env -u OPENSEARCH_URL -u OPENSEARCH_USER -u OPENSEARCH_PASSWORD gosu "$user" "$@"
