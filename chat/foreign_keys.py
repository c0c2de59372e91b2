"""Setting ON DELETE of foreign keys to the conversation table, for data migrations (PostgreSQL).

Django creates every foreign key as `NO ACTION DEFERRABLE INITIALLY DEFERRED`. For NO ACTION,
PostgreSQL checks each deleted conversation with two queries per referencing table; RESTRICT
runs one. See chat/migrations/0002 for the measurement and the one change in behaviour.
"""

from __future__ import annotations

FIND = (
    "SELECT c.conname FROM pg_constraint c "
    "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
    "WHERE c.contype = 'f' AND c.conrelid = %s::regclass "
    "AND c.confrelid = %s::regclass AND a.attname = %s"
)


def set_on_delete(apps, schema_editor, children: list[tuple[str, str]], action: str) -> None:
    """Re-creates the `conversation` key of each (app label, model) in `children` with `action`."""
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    conversation = apps.get_model("chat", "Conversation")
    parent = conversation._meta.db_table
    parent_key = conversation._meta.pk.column
    with schema_editor.connection.cursor() as cursor:
        for app_label, name in children:
            model = apps.get_model(app_label, name)
            table = model._meta.db_table
            column = model._meta.get_field("conversation").column
            cursor.execute(FIND, [table, parent, column])
            for (constraint,) in cursor.fetchall():
                schema_editor.execute(
                    f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(constraint)}"
                )
                schema_editor.execute(
                    f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(constraint)} "
                    f"FOREIGN KEY ({quote(column)}) REFERENCES {quote(parent)} "
                    f"({quote(parent_key)}) ON DELETE {action} DEFERRABLE INITIALLY DEFERRED"
                )
