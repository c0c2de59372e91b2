"""Shared fixtures: named users (one without any access), demo roles, websocket helpers, the
browser launcher."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Iterator

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from agents.roles import AGENT, DIRECTOR, roles_sync
from helao_chat.asgi import application
from realtime.mailbox import Mailbox

PASSWORD = "correct-horse-battery-staple"
ORIGIN = "http://testserver"


@pytest.fixture(autouse=True)
def tombstone_dir(settings, tmp_path):
    """Each test's erasure tombstones go to a folder of its own (retention/tombstones.py)."""
    settings.CHAT_TOMBSTONE_DIR = str(tmp_path / "tombstones")
    return tmp_path / "tombstones"


class _Inbox(Mailbox):
    """The socket's frames as the served consumer reads them (Daphne's queue is a `Mailbox`,
    helao_chat/serve.py), with the `put` the test communicator sends through."""

    __slots__ = ()

    async def put(self, item) -> None:
        self.put_nowait(item)


class Socket(WebsocketCommunicator):
    """A test websocket that ends like a real one: when its test ends, the client goes away.
    Its consumer reads it as it reads Daphne's sockets (`JsonFrameConsumer._serve`)."""

    opened: list[Socket] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._input_queue = _Inbox()
        Socket.opened.append(self)


@pytest.fixture(autouse=True)
async def sockets_end_with_their_test():
    """Each socket a test left open is disconnected, as Daphne does when a client goes, and its
    consumer finishes its own cleanup (group discards, unsubscribes) before the event loop closes.
    Cancelling consumers mid-unsubscribe at loop close left the channel layer's Redis connections
    half-used, and closing them could then time out in the layer's own flush."""
    Socket.opened.clear()
    yield
    sockets, Socket.opened[:] = list(Socket.opened), []
    for socket in sockets:
        if socket._future is None or socket._future.done():
            continue
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await socket.send_input({"type": "websocket.disconnect", "code": 1001})
            await socket.wait(timeout=5)


@pytest.fixture
def roles(db):
    return roles_sync()


def _user(username: str, *, first: str = "", last: str = "", group: str | None = None, staff=False):
    user = get_user_model().objects.create_user(
        username=username, password=PASSWORD, first_name=first, last_name=last, is_staff=staff
    )
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def alice(roles):
    """An agent."""
    return _user("alice", first="Alice", last="Agent", group=AGENT)


@pytest.fixture
def bob(roles):
    """A second agent."""
    return _user("bob", first="Bob", last="Builder", group=AGENT)


@pytest.fixture
def dana(roles):
    """A service director."""
    return _user("dana", first="Dana", last="Director", group=DIRECTOR, staff=True)


@pytest.fixture
def charlie(roles):
    """Staff, but with no chat role: must see nothing."""
    return _user("charlie", first="Charlie", last="Nobody", staff=True)


@pytest.fixture
def agent_online(alice):
    """Alice is online, so visitors may start chats."""
    from agents.services import profile_get

    # Set directly: announcing it would need the channel layer outside any event loop.
    profile = profile_get(user=alice)
    profile.presence = "online"
    profile.save(update_fields=["presence"])
    return alice


async def receive_type(comm, kind: str, limit: int = 20, timeout: float = 5) -> dict:
    """The next frame of type `kind` on `comm`, skipping up to `limit` others."""
    for _ in range(limit):
        frame = await comm.receive_json_from(timeout=timeout)
        if frame["type"] == kind:
            return frame
    raise AssertionError(f"no {kind} frame")


async def visitor_start(*, ip: str = "203.0.113.7", **fields) -> tuple[Socket, dict]:
    """A new visitor's socket that opened a chat with `fields` (text, page, lang, ...) and its
    `conversation.started` frame."""
    comm = visitor_communicator(ip=ip)
    connected, _ = await comm.connect()
    assert connected
    await comm.send_json_to({"type": "conversation.start", "client_msg_id": "c1", **fields})
    return comm, await receive_type(comm, "conversation.started")


async def until(condition, timeout: float = 5) -> None:
    """Returns as soon as `condition()` holds; fails after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def count_round_trips(batcher) -> list:
    """Records every round trip a `realtime.batching.RoundTrips` makes from now on (its batches)."""
    trips: list = []
    real = batcher._send

    async def counted(batch):
        trips.append(batch)
        await real(batch)

    batcher._send = counted
    return trips


def visitor_communicator(
    *, origin: str = ORIGIN, ip: str = "203.0.113.7", headers=None
) -> WebsocketCommunicator:
    hdrs = [
        (b"origin", origin.encode()),
        (b"host", b"testserver"),
        (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
    ]
    hdrs += headers or []
    comm = Socket(application, "/ws/visitor/", headers=hdrs)
    comm.scope["client"] = (ip, 50000)
    return comm


@pytest.fixture
def visitor_ws():
    return visitor_communicator


def agent_communicator(
    user, *, origin: str = ORIGIN, acknowledged: bool = True
) -> WebsocketCommunicator:
    """A console websocket logged in as `user` (call from sync code or database_sync_to_async).

    The console serves only agents who have acknowledged the guidance; `acknowledged` records
    that first, as an agent's first visit would.
    """
    return agent_session(user, origin=origin, acknowledged=acknowledged)[1]


def agent_session(user, *, origin: str = ORIGIN, acknowledged: bool = True):
    """`agent_communicator` plus the browser session behind it (to log out of, or end)."""
    from django.test import Client

    if acknowledged:
        from agents.services import guidance_acknowledge

        guidance_acknowledge(user=user, actor_ip=None)
    client = Client()
    client.force_login(user)
    return client, console_socket(client, origin=origin)


def console_socket(client, *, origin: str = ORIGIN) -> WebsocketCommunicator:
    """A console websocket with the session of a test `Client` that has signed in."""
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    return Socket(
        application,
        "/ws/agent/",
        headers=[
            (b"origin", origin.encode()),
            (b"host", b"testserver"),
            (b"cookie", cookie.encode()),
        ],
    )


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    # Consumers run ORM work in worker threads; without persistent connections those threads
    # close theirs after each unit of work, so the test database can be dropped at the end.
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0


def _server_child_setup() -> None:
    """Runs in the forked server process before it serves."""
    from concurrent.futures import ThreadPoolExecutor

    from asgiref.sync import SyncToAsync
    from django.db import connections

    connections.close_all()
    # A fork copies asgiref's executor but not its worker thread: after async tests in this
    # process, ORM work from the server's consumers would wait forever for a dead thread.
    SyncToAsync.single_thread_executor = ThreadPoolExecutor(max_workers=1)


@pytest.fixture
def chat_server(transactional_db):
    """A real Daphne process serving the project against the test database; yields its URL.

    It is forked when the fixture starts, so settings changed before that (e.g. with
    pytest-django's `settings` fixture) apply to it. Browser tests use this.
    """
    from functools import partial

    from channels.testing.live import make_application
    from daphne.testing import DaphneProcess
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
    from django.db import connections

    if connections["default"].vendor == "sqlite" and connections["default"].is_in_memory_db():
        pytest.fail("chat_server needs a file or PostgreSQL test database")
    # A forked child must not share the parent's database socket.
    connections.close_all()

    process = DaphneProcess(
        "127.0.0.1",
        partial(make_application, static_wrapper=ASGIStaticFilesHandler),
        setup=_server_child_setup,
    )
    process.start()
    while not process.ready.wait(timeout=1):
        if not process.is_alive():
            raise RuntimeError("the chat server did not start")
    try:
        yield f"http://127.0.0.1:{process.port.value}"
    finally:
        process.terminate()
        process.join(timeout=10)


@pytest.fixture(autouse=True)
def _fresh_writer():
    """Each test runs its own event loop: the message writer's connections end with it."""
    from chat import writer

    yield
    writer.reset()


@pytest.fixture(autouse=True)
def _fresh_online_answer():
    """Each test's database starts without agents: no answer of an earlier test is reused."""
    from chat import hooks

    hooks.agents_online_forget()
    yield
    hooks.agents_online_forget()


def _wait_at(barrier) -> None:
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait()


@pytest.fixture(autouse=True)
def _database_threads_idle():
    """A unit still running when a test ends (a queue announcement, a presence expiry) must not
    query while the test database is flushed: PostgreSQL found a deadlock with the TRUNCATE.
    Each database thread meets the others at a barrier, so every unit queued before has ended."""
    yield
    from realtime import units

    executor = units.DB_EXECUTOR
    count = executor._max_workers
    barrier = threading.Barrier(count, timeout=10)
    try:
        futures = [executor.submit(_wait_at, barrier) for _ in range(count)]
    except RuntimeError:  # shut down (a test's own executor)
        return
    concurrent.futures.wait(futures, timeout=15)


@pytest.fixture(autouse=True)
def _fresh_configuration():
    """A test's topics, hours and greetings are its own: no read of an earlier test's rows (rolled
    back or truncated since, which no signal tells) is reused."""
    from chat import configuration

    configuration.forget()
    yield
    configuration.forget()


@pytest.fixture(autouse=True)
def _fresh_limits():
    """Rate-limit counters live in the cache (Redis under CI); each test starts from zero."""
    from django.conf import settings
    from django.core.cache import cache

    if "redis" in settings.CACHES["default"]["BACKEND"].lower():
        client = cache._cache.get_client(write=True)
        for key in client.scan_iter(f"{settings.CACHES['default']['KEY_PREFIX']}:*"):
            client.delete(key)
    else:
        cache.clear()


# --- the browser ---------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
# No sandbox (CI runs as root); none of Chromium's own traffic (the machine has no internet).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@contextlib.contextmanager
def chromium(*extra_args: str) -> Iterator:
    """The system Chromium driven by Playwright, closed afterwards: every browser test's one
    way to launch it (`extra_args` for a test that needs a flag more). Django refuses ORM calls
    while Playwright's loop runs in the thread, so a test makes its data before entering this."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args]
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser():
    """A launched Chromium for tests whose data comes from fixtures."""
    with chromium() as launched:
        yield launched


@contextlib.contextmanager
def chromium_profile(profile_dir, preferences: dict) -> Iterator:
    """The system Chromium with a profile of its own (a persistent context) whose `Preferences`
    are `preferences`: for what only a profile decides, such as whether third-party cookies are
    allowed (`{"profile": {"cookie_controls_mode": 0}}`; 1 blocks them). Yields the context."""
    import json
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    default = Path(profile_dir, "Default")
    default.mkdir(parents=True, exist_ok=True)
    (default / "Preferences").write_text(json.dumps(preferences), encoding="utf-8")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile_dir), executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        try:
            yield context
        finally:
            context.close()
