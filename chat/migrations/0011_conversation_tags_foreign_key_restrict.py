"""The chat's tags table checks a deleted conversation with one query, as the others do.

Its own migration: Django creates the foreign keys of a new table at the end of the migration
that creates it, after any RunPython in it. See 0002 for the measurement and the one change.
"""

from django.db import migrations

from chat.foreign_keys import set_on_delete

CHILDREN = [("chat", "Conversation_tags")]


def restrict(apps, schema_editor):
    set_on_delete(apps, schema_editor, CHILDREN, "RESTRICT")


def no_action(apps, schema_editor):
    set_on_delete(apps, schema_editor, CHILDREN, "NO ACTION")


class Migration(migrations.Migration):
    dependencies = [("chat", "0010_notes_tags_wrap_up")]

    operations = [migrations.RunPython(restrict, no_action, elidable=False)]
