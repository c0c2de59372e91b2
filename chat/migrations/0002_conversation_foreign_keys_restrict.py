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
migration re-creates its constraint with the default. tests/retention/test_retention_schema.py fails
when that happens.
"""

from django.db import migrations

from chat.foreign_keys import set_on_delete

CHILDREN = [("chat", name) for name in ("Message", "PageVisit", "VisitorConnection", "HostContext")]


def restrict(apps, schema_editor):
    set_on_delete(apps, schema_editor, CHILDREN, "RESTRICT")


def no_action(apps, schema_editor):
    set_on_delete(apps, schema_editor, CHILDREN, "NO ACTION")


class Migration(migrations.Migration):
    dependencies = [("chat", "0001_initial")]

    operations = [migrations.RunPython(restrict, no_action, elidable=False)]
