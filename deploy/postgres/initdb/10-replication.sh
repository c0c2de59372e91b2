#!/bin/sh
# Runs once, when the postgres service initialises an empty data volume: the role that the
# standby of `--profile ha` replicates with. On a volume made before, run the same statement by
# hand (docs/operations.md, "PostgreSQL standby").
set -eu
if [ -z "${POSTGRES_REPLICATION_PASSWORD:-}" ] || [ "$POSTGRES_REPLICATION_PASSWORD" = "CHANGE-ME" ]; then
    echo "POSTGRES_REPLICATION_PASSWORD is not set: no replication role (no standby possible)"
    exit 0
fi
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set password="$POSTGRES_REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'password';
SQL
