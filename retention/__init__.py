"""Retention: the purge that deletes every record past its period, the erasure tombstones that
outlive no backup, and the retention status that `/healthz` and the admin show.

Above the chat core: it imports `chat` (the models it purges, the periods) and nothing above it.
"""
