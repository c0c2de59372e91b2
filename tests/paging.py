"""Long histories and long queues made in bulk, and a client that follows paged answers."""

from __future__ import annotations

import json

from django.conf import settings
from django.db import transaction

from chat.models import Conversation, Message, hash_token, new_visitor_token

# 4,000 characters of 4-byte UTF-8: 16 KB of JSON, the largest message there can be.
LONG_TEXT = "\U0001f600" * 4000


@transaction.atomic
def waiting_chats(count: int, *, first_text: str = "Hei") -> list[int]:
    """`count` waiting conversations, each with a first visitor message; their ids."""
    conversations = Conversation.objects.bulk_create(
        Conversation(token_hash=hash_token(new_visitor_token()), language="fi")
        for _ in range(count)
    )
    Message.objects.bulk_create(
        Message(conversation=c, sender=Message.Sender.VISITOR, text=first_text)
        for c in conversations
    )
    return [c.pk for c in conversations]


@transaction.atomic
def chat_with_messages(
    count: int, *, text: str = LONG_TEXT, agent=None, status: str = Conversation.Status.ACTIVE
) -> tuple[Conversation, str, list[int]]:
    """A conversation of `count` agent replies (after one visitor message); with its visitor
    token and its message ids."""
    token = new_visitor_token()
    conversation = Conversation.objects.create(
        token_hash=hash_token(token), status=status, assigned_agent=agent, language="fi"
    )
    messages = [Message(conversation=conversation, sender=Message.Sender.VISITOR, text="Hei")]
    messages += [
        Message(
            conversation=conversation, sender=Message.Sender.AGENT, author_name="Alice", text=text
        )
        for _ in range(count)
    ]
    created = Message.objects.bulk_create(messages)
    return conversation, token, [m.pk for m in created]


class PagedAnswer:
    """What a client gets by sending one frame and then every frame named in `next`."""

    def __init__(self) -> None:
        self.frames: list[dict] = []
        self.sizes: list[int] = []

    def items(self, field: str) -> list:
        return [item for frame in self.frames for item in frame.get(field) or []]

    def ids(self, field: str) -> list[int]:
        return [item["id"] for item in self.items(field)]


async def follow(comm, request: dict, *, timeout: float = 10) -> PagedAnswer:
    """Sends `request` on a WebsocketCommunicator, then each `next` frame, until no answer has
    more; frames of other types (broadcasts) are skipped. Every raw frame's size is kept."""
    answer = PagedAnswer()
    await comm.send_json_to(request)
    outstanding = 1
    while outstanding:
        raw = await comm.receive_from(timeout=timeout)
        frame = json.loads(raw)
        if frame["type"] == "error":
            raise AssertionError(f"error frame: {frame}")
        if "more" not in frame:
            continue
        answer.frames.append(frame)
        answer.sizes.append(len(raw.encode("utf-8")))
        outstanding -= 1
        for continuation in (frame.get("next") or {}).values():
            await comm.send_json_to(continuation)
            outstanding += 1
    assert max(answer.sizes) <= settings.CHAT_MAX_SERVER_FRAME_BYTES
    return answer
