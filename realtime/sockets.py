"""The socket base class: what every websocket of the product shares, whatever it carries.

Size and rate limits per socket, JSON parsing, dispatch by frame type to a handler method,
pipelining of frames that may run side by side, load shedding (`admission`), idle sockets
closed, errors as `error` frames with a code from docs/protocol.md, and a socket that crashes
or is cancelled always giving back what it held. The socket stays open after a client error
unless keeping it would be unsafe (oversize frames, floods). Subclasses name their frames
(`handlers`) and say which events their client wants (`wants`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from typing import Any, Literal, overload

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import DatabaseError

from . import admission, frames, layer_adapter, layer_health
from .limits import TokenBucket
from .logging import Throttled, where
from .mailbox import Mailbox, wait_any
from .net import normalise_origin, scope_client_ip, scope_headers
from .protocol import ClientError, Close, FrameError, parse_frame
from .units import run_unit

#: The answer to a client's `ping`, encoded once.
PONG: dict[str, Any] = {"type": "pong"}
PONG_TEXT = frames.encode(PONG)

logger = logging.getLogger(__name__)
# What clients cause is logged one line at a time, and only so many lines a minute.
client_log = Throttled(logger)


_background_tasks: set[asyncio.Task] = set()
#: The consumers whose application has not returned yet (a socket released may still be
#: leaving its groups and channel).
_running: set[JsonFrameConsumer] = set()


def _background(coro) -> None:
    """Runs `coro` as a task that is kept referenced until it ends."""
    task = asyncio.get_running_loop().create_task(coro)
    _background_tasks.add(task)
    task.add_done_callback(_background_tasks.discard)


class JsonFrameConsumer(AsyncWebsocketConsumer):
    """Shared framing: size and rate limits, JSON parsing, dispatch and error frames."""

    #: frame type -> name of the coroutine method handling it
    handlers: dict[str, str] = {}
    frames_bucket: TokenBucket
    idle_timer: asyncio.TimerHandle | None
    #: Ids of messages this socket sent and was acknowledged, until their broadcast comes back.
    OWN_IDS_KEPT = 64
    #: Client ids of the messages this socket's handlers are storing (a set once there is one).
    own_sending: set[str] | frozenset[str] = frozenset()
    #: Frame types handled concurrently with later frames, in order per `pipeline_key(frame)`
    #: (e.g. an agent's messages to different chats); any other frame waits until they are done.
    pipelined: frozenset[str] = frozenset()
    #: Most pipelined frames in flight per socket; the next one waits for a free place.
    PIPELINE_DEPTH = 32
    #: Frame types refused with `overloaded` while the process runs far behind (admission.py):
    #: those that store something new. Pings, syncs and presence are never refused.
    sheddable: frozenset[str] = frozenset()
    #: The event type that carries a stored message: the sender's own comes back once and is
    #: timed (admission), not sent to it again.
    OWN_EVENT = "message.new"
    #: The `not_found` error's text when a handler looks up a row that does not exist.
    not_found_message = "not found"
    #: Whether a new socket of this kind may be told to come back later while the process sheds
    #: (`admission.defer_socket`): visitors' may; staff consoles are few and are let in.
    deferrable = False

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        self.frames_bucket = TokenBucket(settings.CHAT_FRAMES_PER_MINUTE, 60)
        self.flood_strikes = 0
        self.frames_seen = 0
        loop = asyncio.get_running_loop()
        self.last_frame_at = loop.time()
        self.own_ids: dict[int, None] = {}
        self.in_flight: dict[Any, asyncio.Task] = {}
        retry_ms = admission.defer_socket() if self.deferrable else None
        if retry_ms is not None:
            # Told as at a restart: the clients know the frame and the close, and come back
            # after the delay and resume.
            await AsyncWebsocketConsumer.accept(self)
            await self.send_json({"type": "restart", "retry_after_ms": retry_ms})
            await self.close(code=Close.RESTART)
            return
        await super().websocket_connect(message)
        # A timer, not a task per socket: idle sockets are most sockets, and a sleeping task
        # with its coroutine costs several times the memory of a timer handle.
        self.idle_timer = loop.call_at(self._idle_deadline(), self._check_idle)

    async def accept(self, subprotocol: str | None = None, headers=None) -> None:
        await super().accept(subprotocol, headers)
        # Told when the channel layer stops delivering and when it is back (`degraded`).
        await layer_health.watch(self)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        self._stop_idle_timer()
        # Frames already taken are finished (stored and announced); their acks may find the
        # socket gone, and the client's resend after reconnecting is answered from the database.
        await self._drain_pipeline()
        await self._release(message.get("code"))
        raise StopConsumer()

    async def __call__(self, scope, receive, send) -> None:
        _running.add(self)
        try:
            inbox = getattr(receive, "__self__", None)
            if isinstance(inbox, Mailbox) and receive == inbox.get:
                try:
                    await self._serve(scope, inbox, send)
                finally:
                    inbox.answer = None  # Daphne's protocol holds the box: not this consumer
            else:  # another server (the test communicator): Channels' own loop
                await super().__call__(scope, receive, send)
        finally:
            try:
                # However the consumer ends (Daphne cancelling it at shutdown, an error before
                # the socket was set up), what it holds is given back; `disconnect` runs once.
                await self._release(None)
            finally:
                _running.discard(self)

    async def _serve(self, scope, inbox: Mailbox, send) -> None:
        """Channels' `AsyncConsumer.__call__`, reading the socket's frames (`inbox`, Daphne's
        queue for it here, see helao_chat/serve.py) and its channel's messages from their
        mailboxes with one future (`mailbox.wait_any`) instead of a task per queue per item
        and an `asyncio.wait` around them. Both ready: one of each in turn, frames first."""
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.base_send = send
        receivers = [inbox.get]
        inbox.answer = self.answer_at_once
        box = None
        if self.channel_layer is not None:
            self.channel_name = await self.channel_layer.new_channel()
            self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
            receivers.append(self.channel_receive)
            box = layer_adapter.channel_mailbox(self.channel_layer, self.channel_name)
        if box is None:  # no layer, or another layer's queues: Channels' own loop
            with contextlib.suppress(StopConsumer):
                await await_many_dispatch(receivers, self.dispatch)
            return
        decode = self.channel_layer.deserialize
        try:
            while True:
                await wait_any(inbox, box)
                if inbox.items:
                    await self.dispatch(inbox.take())
                if box.items:
                    await self.dispatch(decode(box.take()))
                if inbox.items or box.items:
                    # One turn of the loop per item, as with Channels' loop: a socket with a
                    # backlog does not run it down in one go, and the process's lag (what
                    # admission sheds on) shows the backlog.
                    await asyncio.sleep(0)
        except StopConsumer:
            pass
        finally:
            await layer_adapter.channel_close(self.channel_layer, self.channel_name)

    async def _release(self, code: int | None) -> None:
        """Runs `disconnect` once; a failure there is logged, never raised (the per-address
        slot is a lease that expires by itself if giving it back failed)."""
        if getattr(self, "released", False):
            return
        self.released = True
        self._stop_idle_timer()
        layer_health.unwatch(self)
        try:
            await self.disconnect(code)
        except Exception as exc:
            client_log.log(logging.WARNING, "release", "socket not fully released: %s", where(exc))

    def _stop_idle_timer(self) -> None:
        timer = getattr(self, "idle_timer", None)
        if timer is not None:
            timer.cancel()
            self.idle_timer = None

    def _idle_deadline(self) -> float:
        """Sockets that never speak, or stop speaking, are closed: they hold a slot.

        Clients send `ping` while idle; a socket silent past the limit is closed with 4008
        and the client reconnects and resumes by id when it needs to. Half-open TCP connections
        are Daphne's to detect (--ping-interval/--ping-timeout).
        """
        limit = (
            settings.CHAT_IDLE_TIMEOUT_SECONDS
            if self.frames_seen
            else settings.CHAT_FIRST_FRAME_TIMEOUT_SECONDS
        )
        return self.last_frame_at + limit

    def _check_idle(self) -> None:
        if getattr(self, "idle_timer", None) is None:
            return
        loop = asyncio.get_running_loop()
        deadline = self._idle_deadline()
        if deadline > loop.time():
            # Frames arrived meanwhile: look again when the newest one would expire.
            self.idle_timer = loop.call_at(deadline, self._check_idle)
            return
        self.idle_timer = None
        _background(self._close_idle())

    async def _close_idle(self) -> None:
        # A task of its own: the socket may have gone meanwhile (the client, a restart), and
        # sending to it then raises; there is nothing left to close.
        with contextlib.suppress(Exception):
            await self.send_error("idle", "closed after a period without frames")
            await self.close(code=Close.IDLE)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Runs the handler of `message`; whatever it raises ends the socket cleanly.

        An error no handler caught closes the socket with a valid code (4011: the client
        reconnects and resumes) after giving back what it held, instead of ending the
        application with Daphne's 1011 and nothing released.
        """
        # Channels closes stale database connections before every handler, which costs a hop
        # to the sync thread per frame and per event; our units do that in their own thread.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        try:
            await handler(message)
        except (StopConsumer, asyncio.CancelledError):
            raise
        except Exception as exc:
            client_log.log(
                logging.ERROR, "crash", "websocket closed after %s: %s", message["type"], where(exc)
            )
            await self._release(Close.SERVER_ERROR)
            if message["type"] == "websocket.disconnect":
                raise StopConsumer() from None
            with contextlib.suppress(Exception):
                await self.send_error("server_error", "internal error; reconnect and resume")
            with contextlib.suppress(Exception):
                await self.close(code=Close.SERVER_ERROR)

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        """Closes once; frames the client had already sent are then ignored."""
        if getattr(self, "closing", False):
            return
        self.closing = True
        # A plain int: the websocket library checks the type exactly (an IntEnum is refused).
        if isinstance(code, int) and not isinstance(code, bool):
            code = int(code)
        await super().close(code=code, reason=reason)

    async def close_for_restart(self, spread_seconds: float) -> None:
        """Tells the client the server is going away and when to come back (a random delay
        within `spread_seconds`, so that its clients do not all reconnect at once), then closes
        with 4012. Frames already taken are finished before the socket lets go (disconnect)."""
        if getattr(self, "closing", False):
            return
        self._stop_idle_timer()
        retry_ms = int(random.uniform(0.1, 1.0) * spread_seconds * 1000)
        with contextlib.suppress(Exception):
            await self.send_json({"type": "restart", "retry_after_ms": retry_ms})
        await self.close(code=Close.RESTART)

    async def refuse_frame(self, code: str, message: str, ref: Any = None) -> None:
        """Answers a frame the socket will not handle; one throttled log line, no content."""
        client_log.log(logging.INFO, code, "refused a client frame: %s", code)
        await self.send_error(code, message, ref)

    async def unit(self, func, *args: Any, **kwargs: Any) -> Any:
        """Runs one sync unit of work in a thread, then publishes the events it committed."""
        return await run_unit(func, *args, **kwargs)

    async def send_json(self, content: dict[str, Any]) -> None:
        if getattr(self, "closing", False):
            # Closed by the server (a restart, an idle socket): an event or an acknowledgement
            # arriving meanwhile has nowhere to go, and the client resumes from the database.
            return
        await self.send(text_data=frames.encode(content))

    async def send_error(self, code: str, message: str = "", ref: Any = None, **extra) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message or code}
        if isinstance(ref, (str, int)) and not isinstance(ref, bool):
            frame["ref"] = ref
        frame.update(extra)
        await self.send_json(frame)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if getattr(self, "closing", False):
            return
        self.frames_seen += 1
        self.last_frame_at = asyncio.get_running_loop().time()
        if not self.frames_bucket.take():
            self.flood_strikes += 1
            if self.flood_strikes > 50:
                client_log.log(logging.INFO, "flood", "closed a socket flooding frames")
                await self.close(code=Close.POLICY)
                return
            await self.refuse_frame("rate_limited", "too many frames; slow down")
            return
        try:
            frame = parse_frame(text_data, settings.CHAT_MAX_FRAME_BYTES)
        except FrameError as exc:
            await self.refuse_frame(exc.code, exc.message)
            if exc.code == "frame_too_large":
                await self.close(code=Close.TOO_LARGE)
            return
        method = self.handlers.get(frame["type"])
        if method is None:
            await self.refuse_frame("unknown_type", "unknown frame type", frame.get("ref"))
            return
        if frame["type"] in self.sheddable:
            retry_ms = admission.refuse()
            if retry_ms is not None:
                await self.send_error(
                    "overloaded",
                    "the server is busy; nothing was stored, resend shortly",
                    frame.get("ref"),
                    retry_after_ms=retry_ms,
                )
                return
        if frame["type"] in self.pipelined:
            await self._pipeline(method, frame)
            return
        await self._drain_pipeline()
        await self._handle(method, frame)

    def pipeline_key(self, frame: dict[str, Any]) -> Any:
        return None

    async def _pipeline(self, method: str, frame: dict[str, Any]) -> None:
        """Handles `frame` in a task, after the previous frame with the same key.

        A console sends into many chats at once; one chat's write need not wait for another's.
        """
        while len(self.in_flight) >= self.PIPELINE_DEPTH:
            await asyncio.wait(list(self.in_flight.values()), return_when=asyncio.FIRST_COMPLETED)
        key = self.pipeline_key(frame)
        before = self.in_flight.get(key)

        async def run() -> None:
            if before is not None:
                await asyncio.wait([before])
            try:
                await self._handle(method, frame)
            finally:
                if self.in_flight.get(key) is task:
                    del self.in_flight[key]

        task = asyncio.get_running_loop().create_task(run())
        self.in_flight[key] = task

    async def _drain_pipeline(self) -> None:
        pending = list(getattr(self, "in_flight", {}).values())
        if pending:
            await asyncio.wait(pending)

    async def _handle(self, method: str, frame: dict[str, Any]) -> None:
        ref = frame.get("ref")
        client_msg_id = frame.get("client_msg_id")
        if isinstance(client_msg_id, str):
            # Its `message.new` may reach this socket before the handler acknowledges it (it is
            # delivered in this process at once): known as its own meanwhile.
            if not isinstance(self.own_sending, set):
                self.own_sending = set()
            self.own_sending.add(client_msg_id)
        try:
            await getattr(self, method)(frame)
        except ClientError as exc:
            await self.send_error(exc.code, exc.message, ref)
        except ObjectDoesNotExist:
            await self.send_error("not_found", self.not_found_message, ref)
        except DatabaseError as exc:
            client_log.log(
                logging.WARNING,
                "database",
                "database error handling a %s frame: %s",
                frame["type"],
                where(exc),
            )
            await self.send_error("not_stored", "temporarily unavailable; nothing was stored", ref)
        except Exception as exc:
            client_log.log(
                logging.ERROR, "handler", "error handling a %s frame: %s", frame["type"], where(exc)
            )
            await self.send_error("server_error", "internal error", ref)
        finally:
            if isinstance(client_msg_id, str) and isinstance(self.own_sending, set):
                self.own_sending.discard(client_msg_id)

    async def send_ack(self, message: dict[str, Any], client_msg_id: str, **extra: Any) -> None:
        """Acknowledges a stored message to its sender; the sender's own `message.new` is then
        not sent back to this socket (other tabs still get it)."""
        self.own_ids[message["id"]] = None
        if len(self.own_ids) > self.OWN_IDS_KEPT:
            del self.own_ids[next(iter(self.own_ids))]
        await self.send_json(
            {"type": "message.ack", **extra, "client_msg_id": client_msg_id, "message": message}
        )

    async def chat_event(self, message: dict[str, Any]) -> None:
        """Forwards a broadcast event to this client unless `wants` says otherwise."""
        event = message["event"]
        if event["type"] == self.OWN_EVENT and (
            event["message"]["id"] in self.own_ids
            or event["message"].get("client_msg_id") in self.own_sending
        ):
            # This socket's own message, delivered back: how long that took tells the process
            # how far behind it runs.
            self.own_ids.pop(event["message"]["id"], None)
            admission.delivered(message)
            return
        if await self.wants(event):
            await self.send_json(event)

    async def wants(self, event: dict[str, Any]) -> bool:
        return True

    async def handle_ping(self, frame: dict[str, Any]) -> None:
        await self.send_json(PONG)

    def answer_at_once(self, message: dict[str, Any]) -> str | None:
        """The reply to a `ping` frame, given where the frame arrives (`Mailbox.answer`): the
        frame is counted and limited as `receive` does, without waking this consumer. Anything
        else, a socket closing, or a ping over the frame limit: None, and it is queued."""
        text = message.get("text")
        if (
            text is None
            or len(text) > 24
            or text.replace(" ", "") != '{"type":"ping"}'
            or getattr(self, "closing", False)
            or getattr(self, "frames_bucket", None) is None
            or not self.frames_bucket.take()
        ):
            return None
        self.frames_seen += 1
        self.last_frame_at = asyncio.get_running_loop().time()
        return PONG_TEXT

    def origin_allowed(self) -> bool:
        """Same-origin only: the Origin must be this service's own scheme, host and port."""
        headers = scope_headers(self.scope)
        origin = normalise_origin(headers.get("origin", ""), exact=True)
        host = headers.get("host", "")
        if origin is None or not host:
            return False
        secure = self.scope.get("scheme") == "wss" or (
            scope_client_ip(self.scope) != (self.scope.get("client") or [None])[0]
            and headers.get("x-forwarded-proto") == "https"
        )
        return origin == normalise_origin(f"{'https' if secure else 'http'}://{host}")


@overload
def int_field(value: Any, name: str, *, required: Literal[True] = True) -> int: ...


@overload
def int_field(value: Any, name: str, *, required: bool) -> int | None: ...


def int_field(value: Any, name: str, *, required: bool = True) -> int | None:
    """A frame's non-negative integer field (an id, a cursor); `bad_frame` otherwise."""
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ClientError("bad_frame", f"{name} must be a non-negative integer")
    return value


async def sockets_close_for_restart(*, spread_seconds: float, timeout: float) -> int:
    """Closes every open socket of this event loop for a restart (`close_for_restart`) and waits,
    at most `timeout` seconds, until each has finished the frames it had taken and let go, and
    its consumer has returned. Returns how many sockets there were.

    Once every socket has let go, nothing will be received for them any more: their channels
    are forgotten here, so that each consumer ends without unsubscribing its channel from Redis
    one round trip after another (the connection closes with the process). A consumer that
    still waited for that when the process stopped was cancelled in it, and channels-redis
    logged an error for each.
    """
    sockets = layer_health.open_sockets()
    await asyncio.gather(
        *(socket.close_for_restart(spread_seconds) for socket in sockets), return_exceptions=True
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while layer_health.open_sockets() and loop.time() < deadline:
        await asyncio.sleep(0.05)
    layer = get_channel_layer()
    if layer is not None:
        layer_adapter.channels_forget(layer)
    while _running and loop.time() < deadline:
        await asyncio.sleep(0.05)
    return len(sockets)
