#!/bin/sh
# A Sentinel of `--profile ha`. Sentinel rewrites its configuration file as it learns (the current
# primary, the replicas, the other Sentinels, the epoch), so the file lives in the Sentinel's
# volume and is written only on the first start; later starts keep what it has learnt, with the
# Redis password taken from .env again.
set -eu
: "${REDIS_PASSWORD:?set REDIS_PASSWORD in .env}"
: "${SENTINEL_ANNOUNCE:?the name other Sentinels reach this one by}"
: "${SENTINEL_MASTER:=helao}"
: "${SENTINEL_DIR:=/data}"
: "${SENTINEL_PORT:=26379}"
: "${REDIS_PRIMARY_HOST:=redis}"
: "${REDIS_PRIMARY_PORT:=6379}"
CONFIG="$SENTINEL_DIR/sentinel.conf"
if [ ! -s "$CONFIG" ]; then
    # Quorum 2 of 3: two Sentinels must agree that the primary is down before one promotes the
    # replica, so one Sentinel that loses its network cannot cause a failover.
    cat > "$CONFIG" <<CONF
port $SENTINEL_PORT
dir $SENTINEL_DIR
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $SENTINEL_ANNOUNCE
sentinel monitor $SENTINEL_MASTER $REDIS_PRIMARY_HOST $REDIS_PRIMARY_PORT 2
sentinel down-after-milliseconds $SENTINEL_MASTER 5000
sentinel failover-timeout $SENTINEL_MASTER 60000
sentinel parallel-syncs $SENTINEL_MASTER 1
CONF
fi
sed -i "/^sentinel auth-pass /d" "$CONFIG"
echo "sentinel auth-pass $SENTINEL_MASTER $REDIS_PASSWORD" >> "$CONFIG"
exec redis-server "$CONFIG" --sentinel
