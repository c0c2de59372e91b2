#!/bin/sh
# The streaming standby of `--profile ha`. On its first start (an empty data volume) it copies the
# primary with pg_basebackup; -R leaves standby.signal and primary_conninfo, so from then on it
# follows the primary's WAL stream and answers read-only queries (DATABASE_REPLICA_URL).
# Later starts keep the volume as it is. Promoting it is an operator's decision
# (docs/operations.md): `docker compose exec -u postgres postgres-standby pg_ctl promote`.
set -eu
: "${POSTGRES_REPLICATION_PASSWORD:?set POSTGRES_REPLICATION_PASSWORD in .env}"
: "${PRIMARY_HOST:=postgres}"
: "${PGDATA:=/var/lib/postgresql/data}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    chmod 700 "$PGDATA"
    until pg_isready -q -h "$PRIMARY_HOST" -p 5432; do sleep 2; done
    PGPASSWORD="$POSTGRES_REPLICATION_PASSWORD" su-exec postgres pg_basebackup \
        -h "$PRIMARY_HOST" -p 5432 -U replicator -D "$PGDATA" -R -X stream -c fast
fi
# cluster_name is the standby's application_name on the primary: the name that
# POSTGRES_SYNCHRONOUS_STANDBY_NAMES gives for synchronous replication.
exec docker-entrypoint.sh postgres \
    -c hba_file=/etc/postgresql/pg_hba.conf \
    -c cluster_name=standby \
    -c hot_standby_feedback=on
