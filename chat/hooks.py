"""Extension points other apps plug into, so that `chat` never imports them.

- ``agents_online() -> bool``: whether any agent can answer now (the widget's availability;
  visitors' hellos and new chats reuse a recent answer, `agents_online_recent`).
- ``conversation_waiting(conversation_id: int)``: a chat waits for an agent (new, or transferred
  to a topic), committed; routing (agents) offers it to an agent of its topic.
- ``capacity_freed()``: a chat ended, committed; routing offers waiting chats to agents with room.
- ``agents_online_count() -> int``: how many agents can answer now (the wait estimate).
- ``agents_online_names() -> list[str]``: their display names (the greeting, if the director
  chose to show them).
- ``retention_before_delete(conversation_ids: list[int])``: fold rows into anonymous aggregates
  before the purge deletes those conversations.
- ``retention_models() -> list[tuple[model, time_field]]``: further tables of the register that
  hang off a conversation and must be purged by their own time before it (e.g. feedback).
- ``conversation_erased(conversation_id: int)``: a data-subject erasure removed a conversation.
- ``conversation_feedback(conversation_id: int) -> dict | None``: the visitor's quick feedback on
  a conversation (feedback plugs in; the console shows it on the transcript).
- ``demo_accounts(write: Callable[[str], None])``: `manage.py seed_demo` asks for the demo staff
  accounts (agents plugs in); `write` prints a line.
- ``guidance_acknowledged(user) -> bool``: the staff member has acknowledged the current guidance
  on handling the register (agents plugs in); the visitor-data pages require it.
- ``agent_capacities(agent_ids: list[int]) -> dict[int, int]``: how many chats at once each of
  these agents may be given (agents plugs in; the reports show capacity use).
- ``health() -> dict[str, dict]``: further parts of `/healthz`'s answer, each with a "status"
  of "ok" or "degraded" (retention plugs in its status under "retention").
- ``retention_staff_records(cutoff: datetime) -> dict[str, int]``: records about staff older than
  the audit log's period lose what names a person (feedback folds per-agent statistics into the
  day's totals); returns rows changed per table.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

Provider = tuple[Callable[..., Any], Callable[[], bool] | None]
#: Each hook's providers: the function, and when it is to be called (None: always).
_registry: dict[str, list[Provider]] = defaultdict(list)


def register(name: str, func: Callable[..., Any], when: Callable[[], bool] | None = None) -> None:
    """Adds `func` as a provider of hook `name`; with `when`, it is called only while `when()`
    is true (e.g. routing only while it is on), so that a caller can skip the work of reaching
    it (`wanted`)."""
    if all(known is not func for known, _ in _registry[name]):
        _registry[name].append((func, when))


def unregister(name: str, func: Callable[..., Any]) -> None:
    _registry[name] = [(known, when) for known, when in _registry[name] if known is not func]


def _providers(name: str) -> list[Callable[..., Any]]:
    return [func for func, when in _registry[name] if when is None or when()]


def wanted(name: str) -> bool:
    """Whether calling hook `name` now would call any provider."""
    return bool(_providers(name))


def call(name: str, **kwargs: Any) -> list[Any]:
    return [func(**kwargs) for func in _providers(name)]


def conversation_feedback(conversation_id: int) -> dict | None:
    """The first provider's answer, or None when no provider or no feedback."""
    return next(
        (f for f in call("conversation_feedback", conversation_id=conversation_id) if f), None
    )


def guidance_acknowledged(user) -> bool:
    """Every provider agrees that `user` has acknowledged the current guidance."""
    return all(call("guidance_acknowledged", user=user))


def agent_capacities(agent_ids: list[int]) -> dict[int, int]:
    """Each agent's capacity, from the providers (none: an empty answer)."""
    found: dict[int, int] = {}
    for answer in call("agent_capacities", agent_ids=agent_ids):
        found.update(answer)
    return found


def agents_online() -> bool:
    """True when any registered presence provider reports an agent online."""
    return any(call("agents_online"))


#: How long a process reuses its answer to "is any agent online?" for visitors' hellos and new
#: chats (`agents_online_recent`).
AGENTS_ONLINE_REUSE_SECONDS = 1.0
_online_answer: tuple[float, bool] | None = None


def agents_online_recent() -> bool:
    """`agents_online()`, reusing this process's answer of the last AGENTS_ONLINE_REUSE_SECONDS.

    Every visitor's hello and every new chat ask it, and the presence query (console users by
    permission, fresh presence) was the dearest part of a start. A presence saved in this
    process, and an `availability` event reaching this process's visitor sockets (any process
    saw the answer change), forget it at once (`agents_online_forget`); a presence going stale
    without a write is seen within the reuse time. Whoever decides on a change of presence
    (agents' services) asks `agents_online()` itself, never this.
    """
    global _online_answer
    known = agents_online_reused()
    if known is not None:
        return known
    online = agents_online()
    _online_answer = (time.monotonic(), online)
    return online


def agents_online_reused() -> bool | None:
    """This process's answer of the last AGENTS_ONLINE_REUSE_SECONDS, or None: no query, so an
    event loop may ask it."""
    answer = _online_answer
    if answer is not None and time.monotonic() - answer[0] < AGENTS_ONLINE_REUSE_SECONDS:
        return answer[1]
    return None


def agents_online_forget() -> None:
    """The next `agents_online_recent()` asks the providers again."""
    global _online_answer
    _online_answer = None


os.register_at_fork(after_in_child=agents_online_forget)


def agents_online_count() -> int:
    """How many agents the presence providers report online (summed)."""
    return sum(call("agents_online_count"))


def agents_online_names() -> list[str]:
    """The display names of the agents online, from every presence provider, sorted."""
    return sorted(name for names in call("agents_online_names") for name in names)
