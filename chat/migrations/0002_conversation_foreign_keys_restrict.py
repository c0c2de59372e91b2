"""The chat's foreign keys to a conversation check a deletion with one query instead of two.

Django creates every foreign key as `NO ACTION DEFERRABLE INITIALLY DEFERRED` and deletes the
referencing rows itself (on_delete=CASCADE). For NO ACTION, PostgreSQL's check of each deleted
conversation runs two queries per referencing table: "does another row now hold this key?" and
"does any row still reference it?". RESTRICT runs only the second. Measured on the retention
purge's benchmark, that halves the cost of these checks (the largest part of deleting a
conversation), for the purge and for Django's own deletes alike.

The only difference in behaviour: deleting a conversation that still has messages (page visits,
connection records, host contexts) fails at once instead of at commit. Django's collector, the
data-subject erasure and the retention purge all delete those rows first, in the same statement
or before it. Checks of inserted rows stay deferred to commit as before. Tables of other apps keep
Django's default; their own migrations may do the same.

Django does not model ON DELETE in the database: altering one of these fields in a later
migration re-creates its constraint with the default. tests/chat/test_retention_schema.py fails
when that happens.
"""

from django.db import migrations

CHILDREN = ("Message", "PageVisit", "VisitorConnection", "HostContext")


def _set_on_delete(apps, schema_editor, action: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    conversation = apps.get_model("chat", "Conversation")
    parent = conversation._meta.db_table
    parent_key = conversation._meta.pk.column
    with schema_editor.connection.cursor() as cursor:
        for name in CHILDREN:
            model = apps.get_model("chat", name)
            table = model._meta.db_table
            column = model._meta.get_field("conversation").column
            cursor.execute(
                "SELECT c.conname FROM pg_constraint c "
                "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
                "WHERE c.contype = 'f' AND c.conrelid = %s::regclass "
                "AND c.confrelid = %s::regclass AND a.attname = %s",
                [table, parent, column],
            )
            for (constraint,) in cursor.fetchall():
                schema_editor.execute(
                    f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(constraint)}"
                )
                schema_editor.execute(
                    f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(constraint)} "
                    f"FOREIGN KEY ({quote(column)}) REFERENCES {quote(parent)} "
                    f"({quote(parent_key)}) ON DELETE {action} DEFERRABLE INITIALLY DEFERRED"
                )


def restrict(apps, schema_editor):
    _set_on_delete(apps, schema_editor, "RESTRICT")


def no_action(apps, schema_editor):
    _set_on_delete(apps, schema_editor, "NO ACTION")


class Migration(migrations.Migration):
    dependencies = [("chat", "0001_initial")]

    operations = [migrations.RunPython(restrict, no_action, elidable=False)]
