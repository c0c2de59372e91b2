"""The previous release's code, run as real processes on the schema of the current migrations.

A rolling deploy migrates first, while the previous release still serves, and then replaces its
processes one at a time: for a while both releases serve behind one nginx, on one database and
one Redis (docs/operations.md, "Rolling deploys: the previous release on the new schema"). The
previous release is the code just before the latest schema change (`previous_release.py`); its
tracked files are unpacked into a temporary folder and run with this checkout's virtualenv.

A fresh database is migrated by the current code. Daphne process 0 then runs the previous
release, process 1 the current code, both behind the shipped nginx:

- visitors on the previous release chat with an agent on the current code and the other way
  round, numbered messages both ways, every socket dropped once midway and resumed;
- through nginx, under load, process 0 is deployed (the current code), process 1 restarted (the
  rest of the rolling deploy) and process 0 rolled back (the previous release);
- the previous release's data-subject export (JSON and text), the visitor's own download from
  its Daphne, its erasure and its retention purge work on chats that carry the new columns.

Lost 0 and duplicated 0 in every chat; neither process's log has a traceback. A previous
release from before the origin mark on published events runs with `CHAT_LOCAL_DELIVERY=0` on
both sides, the documented way to deploy over it.
`tests/deploy/test_rolling_migrations.py` checks the rule that makes this hold for every
migration (additive only); this test runs the code.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import psycopg
import pytest

from tests.faults.nginx import behind_nginx, open_chats_behind
from tests.faults.numbered import NumberedChat, open_chats, run_through

from . import previous_release as release

pytestmark = [pytest.mark.services, pytest.mark.asyncio]

ROOT = release.ROOT
OLD, NEW = 0, 1


class Fleet:
    def __init__(self, stack, nginx, old: Path, commit: str) -> None:
        self.stack, self.nginx, self.old, self.commit = stack, nginx, old, commit

    def url(self, index: int, path: str) -> str:
        return f"ws://127.0.0.1:{self.stack.ports[index]}{path}"

    async def chats(self, count: int, *, visitors: int, agent: int) -> NumberedChat:
        """`count` numbered chats: visitors on process `visitors`, the agent on `agent`."""
        cookie = await asyncio.to_thread(self.stack.login, port=self.stack.ports[agent])
        return await open_chats(
            count=count,
            visitor_url=lambda: self.url(visitors, "/ws/visitor/"),
            agent_url=lambda: self.url(agent, "/ws/agent/"),
            origin=None,
            cookie=cookie,
        )

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        """`manage.py` of the previous release against the fleet's database and Redis."""
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=self.old,
            env=self.stack.env,
            capture_output=True,
            text=True,
            timeout=120,
        )


def imported_from(root: Path, env: dict[str, str]) -> Path:
    """Where `python -m ...` started in `root` takes the project's packages from."""
    out = subprocess.run(
        [sys.executable, "-c", "import chat, helao_chat; print(chat.__file__)"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return Path(out.strip()).parent.parent


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("previous-release")
    commit = release.previous_release()
    old = release.materialise(commit, tmp / "code")
    try:
        # The previous release lacks a migration the database will have.
        assert release.migrations_in_tree() - release.migrations_at(commit)
        # A previous release that does not know the origin mark on published events runs
        # beside this one with the mark off, as docs/deployment.md tells operators to.
        knows_mark = "CHAT_LOCAL_DELIVERY" in (old / "helao_chat" / "settings.py").read_text()
        with behind_nginx(
            tmp,
            # The module opens 11 chats from one address (10 an hour by default).
            env={
                "CHAT_RESTART_SPREAD_SECONDS": "1",
                "CHAT_NEW_CONVERSATIONS_PER_HOUR_PER_IP": "50",
                "CHAT_LOCAL_DELIVERY": "1" if knows_mark else "0",
            },
            roots=[old, ROOT],
        ) as (stack, nginx):
            assert imported_from(old, stack.env) == old
            assert imported_from(ROOT, stack.env) == ROOT
            print(f"previous release: {commit[:12]} in {old}")
            yield Fleet(stack, nginx, old, commit)
            for index in (OLD, NEW):
                assert "Traceback" not in stack.log(index), stack.log(index)[-3000:]
    finally:
        shutil.rmtree(old, ignore_errors=True)


def stored_once(stack, chat: NumberedChat) -> None:
    """Each numbered text is one row of its chat (the same texts recur in each test's chats)."""
    texts = [t for side in chat.visitors for t in side.sent] + list(chat.agent.sent)
    ids = chat.agent.conversations
    where = "WHERE conversation_id = ANY(%s) AND text = ANY(%s)"
    stored = (
        stack.count(f"SELECT count(*) FROM chat_message {where}", ids, texts),  # noqa: S608
        stack.count(f"SELECT count(DISTINCT text) FROM chat_message {where}", ids, texts),  # noqa: S608
    )
    assert stored == (len(texts), len(texts)), "each message stored exactly once"


@pytest.mark.parametrize(
    ("visitors", "agent"), [(OLD, NEW), (NEW, OLD)], ids=["visitors-on-old", "agent-on-old"]
)
async def test_the_previous_release_and_the_current_code_chat_on_the_new_schema(
    fleet, visitors, agent
):
    stack = fleet.stack
    chat = await fleet.chats(3, visitors=visitors, agent=agent)

    async def drop_every_socket() -> None:
        # Each side reconnects to the same process, resumes from the last id it saw and
        # resends what was not acknowledged.
        for side in [*chat.visitors, chat.agent]:
            if side.ws is not None:
                await side.ws.close()

    figures = await run_through(chat, drop_every_socket)
    print(f"visitors on {'old' if visitors == OLD else 'new'}, agent on the other: {figures}")
    assert figures["lost"] == 0
    assert figures["duplicated"] == 0
    assert figures["reconnects"] >= 4, "every socket resumed once"
    stored_once(stack, chat)
    # Chats the previous release started have the new columns' database defaults.
    ids = chat.agent.conversations
    assert stack.count(
        "SELECT count(*) FROM chat_conversation WHERE id = ANY(%s) "
        "AND left_offline = false AND contact_email = '' AND contact_notified_at IS NULL",
        ids,
    ) == len(ids)


async def test_a_replica_deployed_and_rolled_back_behind_nginx_loses_and_duplicates_nothing(
    fleet,
):
    stack, nginx = fleet.stack, fleet.nginx
    cookie = await asyncio.to_thread(stack.login)
    chat = await open_chats_behind(nginx, cookie, 3)

    async def deploy_and_roll_back() -> None:
        # The sockets leave each stopping process for the other one: from the previous release
        # to the current code, back to process 0 (now the current code), then to process 1.
        await asyncio.to_thread(stack.restart, OLD, root=ROOT)
        await asyncio.sleep(1)
        await asyncio.to_thread(stack.restart, NEW)
        await asyncio.sleep(1)
        await asyncio.to_thread(stack.restart, OLD, root=fleet.old)

    figures = await run_through(chat, deploy_and_roll_back)
    print(f"deploy of both processes, roll-back of one, behind nginx: {figures}")
    assert figures["lost"] == 0
    assert figures["duplicated"] == 0
    assert figures["restart_frames"] >= 1, "the stopping processes told their sockets"
    assert stack.roots == [fleet.old, ROOT]
    assert stack.alive()
    stored_once(stack, chat)


def self_export(fleet, token: str) -> dict:
    """The visitor's own download, asked of the previous release's Daphne."""
    base = f"http://127.0.0.1:{fleet.stack.ports[OLD]}"
    request = urllib.request.Request(
        f"{base}/widget/conversation/export/",
        data=json.dumps({"token": token}).encode(),
        headers={"Origin": base, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())


async def test_the_previous_release_exports_erases_and_purges_chats_with_the_new_columns(fleet):
    stack = fleet.stack
    # Two chats started on the current code and taken by an agent there.
    chat = await fleet.chats(2, visitors=NEW, agent=NEW)
    erased, expired = chat.agent.conversations
    # What the current code stores in the columns the previous release does not know (those of
    # the offline messages' migrations; a later schema change adds its own here).
    with psycopg.connect(stack.database_url) as c:
        c.execute(
            "UPDATE chat_conversation SET left_offline = true, "
            "contact_email = 'visitor@example.org', contact_notified_at = now() "
            "WHERE id = ANY(%s)",
            [[erased, expired]],
        )
        references = dict(
            c.execute(
                "SELECT id, reference FROM chat_conversation WHERE id = ANY(%s)",
                [[erased, expired]],
            ).fetchall()
        )
        c.execute(
            "INSERT INTO chat_greeting (language, text, show_agent_names) VALUES ('en', 'Hi', true)"
        )

    for fmt in ("json", "text"):
        result = await asyncio.to_thread(
            fleet.manage,
            "visitor_data",
            "export",
            "--reference",
            references[erased],
            "--request-id",
            "DSR-2026-001",
            "--format",
            fmt,
        )
        assert result.returncode == 0, result.stderr
        assert references[erased] in result.stdout
    data = json.loads(
        (
            await asyncio.to_thread(
                fleet.manage,
                "visitor_data",
                "export",
                "--reference",
                references[erased],
                "--request-id",
                "DSR-2026-001",
            )
        ).stdout
    )
    assert data["conversation"]["reference"] == references[erased]
    own = await asyncio.to_thread(self_export, fleet, chat.visitors[0].token)
    assert own["reference"] == references[erased]
    assert {f["format"] for f in own["files"]} == {"json", "text"}

    result = await asyncio.to_thread(
        fleet.manage,
        "visitor_data",
        "erase",
        "--reference",
        references[erased],
        "--request-id",
        "DSR-2026-002",
        "--yes",
    )
    assert result.returncode == 0, result.stderr
    assert stack.count("SELECT count(*) FROM chat_conversation WHERE id = %s", erased) == 0
    assert stack.count("SELECT count(*) FROM chat_message WHERE conversation_id = %s", erased) == 0

    # Past the retention period (at most 120 months): the purge takes the conversation and
    # everything hanging off it.
    with psycopg.connect(stack.database_url) as c:
        c.execute(
            "UPDATE chat_conversation SET created_at = now() - interval '11 years', "
            "last_activity_at = now() - interval '11 years', "
            "closed_at = now() - interval '11 years', status = 'closed' WHERE id = %s",
            [expired],
        )
    result = await asyncio.to_thread(fleet.manage, "purge_expired")
    assert result.returncode == 0, result.stderr
    assert "deleted" in result.stdout
    assert stack.count("SELECT count(*) FROM chat_conversation WHERE id = %s", expired) == 0
    assert stack.count("SELECT count(*) FROM chat_message WHERE conversation_id = %s", expired) == 0
    assert (
        stack.count("SELECT count(*) FROM chat_retentionrun WHERE succeeded AND NOT dry_run") >= 1
    )
