"""The default topic: chats that name no topic, or an unknown one, go there."""

from django.db import migrations


def create_default_topic(apps, schema_editor):
    Topic = apps.get_model("chat", "Topic")
    if not Topic.objects.filter(is_default=True).exists():
        Topic.objects.update_or_create(
            slug="general",
            defaults={
                "name_fi": "Yleinen",
                "name_sv": "Allmänt",
                "name_en": "General",
                "is_default": True,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("chat", "0012_topics_and_routing")]

    operations = [migrations.RunPython(create_default_topic, migrations.RunPython.noop)]
