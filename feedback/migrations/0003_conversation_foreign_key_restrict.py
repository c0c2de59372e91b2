"""The feedback's key to its conversation checks a deletion with one query instead of two.

The same change as chat/migrations/0002 for the chat's own tables (see there): the retention
purge and every erasure delete the feedback before its conversation, so only a direct deletion of
a conversation that still has feedback behaves differently: it fails at once instead of at commit.
"""

from django.db import migrations

from chat.foreign_keys import set_on_delete

CHILDREN = [("feedback", "Feedback")]


def restrict(apps, schema_editor):
    set_on_delete(apps, schema_editor, CHILDREN, "RESTRICT")


def no_action(apps, schema_editor):
    set_on_delete(apps, schema_editor, CHILDREN, "NO ACTION")


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0002_conversation_foreign_keys_restrict"),
        ("feedback", "0002_daily_histograms_and_folded_days"),
    ]

    operations = [migrations.RunPython(restrict, no_action, elidable=False)]
