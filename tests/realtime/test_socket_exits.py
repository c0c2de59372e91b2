"""However a socket ends, it ends with a valid close code and gives back what it held."""

from __future__ import annotations

import logging

import pytest
from channels.db import database_sync_to_async

from realtime import sockets
from realtime.logging import OneLineFilter
from realtime.protocol import MAX_DEPTH, Close, FrameError, nesting_depth, parse_frame
from tests.conftest import agent_communicator, visitor_communicator

pytestmark = [pytest.mark.django_db(transaction=True)]


async def _open(ip: str = "203.0.113.70"):
    comm = visitor_communicator(ip=ip)
    connected, _ = await comm.connect()
    assert connected
    return comm


async def _pong(comm) -> None:
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from(timeout=5) == {"type": "pong"}


async def _closed_with(comm) -> int:
    while True:
        output = await comm.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            # Exactly an int: Daphne's websocket library refuses an int subclass (IntEnum).
            assert type(output["code"]) is int
            return output["code"]


def test_it_measures_nesting_without_recursing_and_ignores_brackets_in_strings():
    assert nesting_depth('{"a": [1, {"b": "[[[[{{{{"}]}') == 3
    deep = "[" * 100_000 + "]" * 100_000
    assert nesting_depth(deep) == 100_000
    with pytest.raises(FrameError) as refused:
        parse_frame(deep, 1 << 20)
    assert refused.value.code == "bad_json"
    ok = '{"type": "x", "v": ' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "}"
    assert parse_frame(ok, 1 << 20)["type"] == "x"


async def test_a_deeply_nested_frame_is_refused_and_the_socket_stays(roles, caplog):
    comm = await _open()
    for frame in ("[" * 20_000 + "]" * 20_000, '{"type": "ping", "x": ' + "[" * 20_000 + "}"):
        await comm.send_to(text_data=frame)
        assert (await comm.receive_json_from(timeout=5))["code"] == "bad_json"
    await _pong(comm)
    await comm.disconnect()
    assert "Traceback" not in caplog.text and "RecursionError" not in caplog.text


async def test_an_origin_with_anything_after_the_host_is_refused(roles, alice):
    for origin in ("http://testserver/", "http://testserver/x", "http://testserver?"):
        connected, code = await visitor_communicator(origin=origin).connect()
        assert not connected and code == Close.FORBIDDEN
        agent = await database_sync_to_async(agent_communicator)(alice, origin=origin)
        connected, code = await agent.connect()
        assert not connected and code == Close.FORBIDDEN


async def test_25_crashing_sockets_from_one_address_leave_it_able_to_connect(
    roles, monkeypatch, caplog
):
    def crash(*args, **kwargs):
        raise RuntimeError("boom 7KQ2M-X9D4T")

    monkeypatch.setattr(sockets, "parse_frame", crash)
    for _ in range(25):
        comm = await _open(ip="203.0.113.71")
        await comm.send_to(text_data='{"type": "ping"}')
        error = await comm.receive_json_from(timeout=5)
        assert error["code"] == "server_error"
        assert await _closed_with(comm) == Close.SERVER_ERROR
        await comm.wait()
    monkeypatch.undo()
    comm = await _open(ip="203.0.113.71")
    await _pong(comm)
    await comm.disconnect()
    crash_lines = [r for r in caplog.records if "websocket closed after" in r.getMessage()]
    # One line each, throttled, without the exception's text (it may quote a client's input).
    assert 0 < len(crash_lines) <= 2 * sockets.client_log.per_minute
    assert all("RuntimeError at" in r.getMessage() for r in crash_lines)
    assert "boom" not in caplog.text and not any(r.exc_info for r in caplog.records)


async def test_flooding_sockets_are_closed_with_a_valid_code_and_free_their_slots(roles, settings):
    settings.CHAT_FRAMES_PER_MINUTE = 2
    settings.CHAT_MAX_CONNECTIONS_PER_IP = 3
    for _ in range(6):
        comm = await _open(ip="203.0.113.72")
        for _ in range(60):
            await comm.send_to(text_data='{"type": "ping"}')
        assert await _closed_with(comm) == Close.POLICY
        await comm.wait()
    comm = await _open(ip="203.0.113.72")
    await comm.disconnect()


async def test_refused_frames_log_one_throttled_line_each(roles, caplog):
    caplog.set_level(logging.INFO, logger="realtime.sockets")
    comm = await _open(ip="203.0.113.73")
    for _ in range(40):
        await comm.send_to(text_data="{not json")
        assert (await comm.receive_json_from(timeout=5))["code"] == "bad_json"
    await comm.disconnect()
    lines = [r.getMessage() for r in caplog.records if "refused a client frame" in r.getMessage()]
    assert 0 < len(lines) <= 2 * sockets.client_log.per_minute
    assert set(lines) == {"refused a client frame: bad_json"}


def test_log_lines_never_carry_a_conversation_reference():
    record = logging.LogRecord(
        "django.security.csrf",
        logging.WARNING,
        __file__,
        1,
        "Forbidden (%s): %s",
        ("CSRF token missing.", "/console/requests/7KQ2M-X9D4T/erase/"),
        None,
    )
    OneLineFilter().filter(record)
    assert (
        record.getMessage()
        == "Forbidden (CSRF token missing.): /console/requests/[reference]/erase/"
    )


def test_the_reference_pattern_matches_every_reference_the_model_makes():
    from chat.models import new_reference

    for _ in range(200):
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s", (new_reference(),), None)
        OneLineFilter().filter(record)
        assert record.getMessage() == "[reference]"
