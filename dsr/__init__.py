"""Data-subject requests: a conversation's export and erasure, for the service director under
/console/requests/ and for the visitor in the widget (`visitor_urls`), and `manage.py
visitor_data` / `replay_erasures`.

Above the chat core and retention: erasures are recorded as retention's tombstones, which
`replay_erasures` applies again after a restore. Nothing below imports it.
"""
