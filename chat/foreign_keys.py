"""Foreign keys: the model a relation points at, and setting ON DELETE of foreign keys to the
conversation table, for data migrations (PostgreSQL).

Django creates every foreign key as `NO ACTION DEFERRABLE INITIALLY DEFERRED`. For NO ACTION,
PostgreSQL checks each deleted conversation with two queries per referencing table; RESTRICT
runs one. See chat/migrations/0002 for the measurement and the one change in behaviour.
"""

from __future__ import annotations

from typing import Any

from django.db import models

FIND = (
    "SELECT c.conname FROM pg_constraint c "
    "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
    "WHERE c.contype = 'f' AND c.conrelid = %s::regclass "
    "AND c.confrelid = %s::regclass AND a.attname = %s"
)


def related_model(rel: Any) -> type[models.Model]:
    """The model on the other side of the relation `rel` (a relation to "self" is a class too
    once the app registry has loaded)."""
    model = rel.related_model
    if not isinstance(model, type) or not issubclass(model, models.Model):
        raise TypeError(f"relation {rel!r} points at no loaded model")
    return model


def column(field: Any) -> str:
    """The database column of a concrete field, or of the field behind a reverse relation."""
    name = getattr(field, "column", None) or getattr(getattr(field, "field", None), "column", None)
    if not isinstance(name, str):
        raise TypeError(f"{field!r} has no column")
    return name


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
