# The chats taken in the last hour (the wait estimate's basis) by index: the read had scanned the
# whole register on every queue announcement. Built concurrently: a live register keeps taking
# new chats while the index is made.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("chat", "0018_model_names_translated"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="conversation",
            index=models.Index(
                condition=models.Q(("claimed_at__isnull", False), ("left_offline", False)),
                fields=["claimed_at"],
                name="conversation_claimed",
            ),
        ),
    ]
