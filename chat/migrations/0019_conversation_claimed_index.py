# The chats taken in the last hour (the wait estimate's basis) by index: the read had scanned the
# whole register on every queue announcement. Built concurrently on PostgreSQL: a live register
# keeps taking new chats while the index is made (SQLite, for trying it out, builds it plainly).

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_forwards(
            self, app_label, schema_editor, from_state, to_state
        )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_backwards(
            self, app_label, schema_editor, from_state, to_state
        )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("chat", "0018_model_names_translated"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="conversation",
            index=models.Index(
                condition=models.Q(("claimed_at__isnull", False), ("left_offline", False)),
                fields=["claimed_at"],
                name="conversation_claimed",
            ),
        ),
    ]
