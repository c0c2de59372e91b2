"""One consumer per side; each message is stored, then sent to the conversation's group."""

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from .models import Message


def _group(conversation_id: int) -> str:
    return f"conv.{conversation_id}"


class ChatConsumer(AsyncJsonWebsocketConsumer):
    sender = "visitor"

    async def send_message(self, conversation_id: int, content: dict) -> None:
        message = await database_sync_to_async(Message.objects.create)(
            conversation_id=conversation_id,
            sender=self.sender,
            text=content.get("text", ""),
            client_msg_id=content.get("client_msg_id", ""),
        )
        await self.channel_layer.group_send(
            _group(conversation_id),
            {
                "type": "chat.message",
                "message": {
                    "id": message.pk,
                    "conversation_id": conversation_id,
                    "sender": self.sender,
                    "text": message.text,
                    "client_msg_id": message.client_msg_id,
                },
            },
        )

    async def chat_message(self, event: dict) -> None:
        await self.send_json({"type": "message.new", "message": event["message"]})


class VisitorConsumer(ChatConsumer):
    sender = "visitor"

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        self.conversation_id = int(query.get("conv", ["0"])[0])
        if self.conversation_id:
            await self.channel_layer.group_add(_group(self.conversation_id), self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.conversation_id:
            await self.channel_layer.group_discard(_group(self.conversation_id), self.channel_name)

    async def receive_json(self, content: dict, **kwargs) -> None:
        if content.get("type") == "message.send" and self.conversation_id:
            await self.send_message(self.conversation_id, content)


class AgentConsumer(ChatConsumer):
    sender = "agent"

    async def connect(self) -> None:
        self.joined: set[int] = set()
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for conversation_id in self.joined:
            await self.channel_layer.group_discard(_group(conversation_id), self.channel_name)

    async def receive_json(self, content: dict, **kwargs) -> None:
        kind = content.get("type")
        conversation_id = int(content.get("conversation_id") or 0)
        if kind == "join":
            self.joined.add(conversation_id)
            await self.channel_layer.group_add(_group(conversation_id), self.channel_name)
            await self.send_json({"type": "joined", "conversation_id": conversation_id})
        elif kind == "message.send" and conversation_id in self.joined:
            await self.send_message(conversation_id, content)
