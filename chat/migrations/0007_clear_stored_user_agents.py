"""Clears the raw user-agent strings stored before they were kept only while parsing.

The privacy notice lists parsed device data (browser, OS, device type), not the raw string. Unless
the operator keeps raw strings on purpose (`CHAT_STORE_USER_AGENT=1`), those stored earlier are
emptied; the parsed fields stay. Reversing restores nothing (the strings are gone).
"""

from django.conf import settings
from django.db import migrations


def clear_user_agents(apps, schema_editor):
    if settings.CHAT_STORE_USER_AGENT:
        return
    connection_model = apps.get_model("chat", "VisitorConnection")
    connection_model.objects.exclude(user_agent="").update(user_agent="")


class Migration(migrations.Migration):
    dependencies = [("chat", "0006_participation_foreign_key_restrict")]

    operations = [migrations.RunPython(clear_user_agents, migrations.RunPython.noop)]
