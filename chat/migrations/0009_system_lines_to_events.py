"""The English system lines stored before events existed become events.

"<name> joined the chat" (sender "system", author_name the agent's name) was the only system
line the product stored; it becomes the event `joined` with that name, so that every viewer
tells it in their own language. Lines that do not match exactly are left as they are.
"""

from __future__ import annotations

from django.db import migrations

SUFFIX = " joined the chat"
BATCH = 2000


def lines_to_events(apps, schema_editor):
    Message = apps.get_model("chat", "Message")
    legacy = Message.objects.filter(sender="system", event="", text__endswith=SUFFIX)
    last = 0
    while True:
        batch = list(legacy.filter(pk__gt=last).order_by("pk")[:BATCH])
        if not batch:
            return
        changed = []
        for message in batch:
            name = message.text[: -len(SUFFIX)]
            if name and name == message.author_name:
                message.event = "joined"
                message.event_data = {"name": name}
                message.text = ""
                changed.append(message)
        Message.objects.bulk_update(changed, ["event", "event_data", "text"])
        last = batch[-1].pk


def events_to_lines(apps, schema_editor):
    Message = apps.get_model("chat", "Message")
    for message in Message.objects.filter(sender="system", event="joined").iterator():
        name = (message.event_data or {}).get("name") or message.author_name
        message.text = f"{name}{SUFFIX}"
        message.event = ""
        message.event_data = None
        message.save(update_fields=["text", "event", "event_data"])


class Migration(migrations.Migration):
    dependencies = [("chat", "0008_message_event")]

    operations = [migrations.RunPython(lines_to_events, events_to_lines)]
