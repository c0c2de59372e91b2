"""The collector policy of a Daphne process: survivors frozen, cycles among them collected later."""

from __future__ import annotations

import gc
import threading
import weakref

from helao_chat import gc_policy


class Node:
    pass


def _cycle() -> weakref.ref:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_settle_frees_young_garbage_and_freezes_the_survivors():
    garbage = _cycle()
    kept = Node()
    kept.me = kept
    before = gc.get_freeze_count()
    gc_policy.settle()
    assert garbage() is None
    assert gc.get_freeze_count() > before
    assert not any(o is kept for o in gc.get_objects())  # out of the collector's walk


def test_frozen_objects_are_freed_by_reference_count_and_cycles_by_the_deep_collection():
    plain = Node()
    plain_ref = weakref.ref(plain)
    a, b = Node(), Node()
    a.other, b.other = b, a
    cycle_ref = weakref.ref(a)
    gc_policy.settle()
    del plain
    assert plain_ref() is None  # frozen, but nothing refers to it: freed at once
    del a, b
    gc.collect()
    assert cycle_ref() is not None  # a frozen cycle waits for the deep collection
    assert gc_policy.deep_collect() >= 2
    assert cycle_ref() is None
    assert gc.get_freeze_count() > 0  # the survivors are frozen again


def test_the_thread_settles_on_its_period_and_deep_collects_on_its_own(monkeypatch):
    calls: list[str] = []
    both = threading.Event()

    def record(name):
        def step():
            calls.append(name)
            if {"settle", "deep"} <= set(calls):
                both.set()
            return 0

        return step

    monkeypatch.setattr(gc_policy, "settle", record("settle"))
    monkeypatch.setattr(gc_policy, "deep_collect", record("deep"))
    policy = gc_policy.start(0.01, 0.05)
    try:
        assert both.wait(5)
    finally:
        policy.stop()
    assert not policy.thread.is_alive()
    assert calls.count("settle") > calls.count("deep") >= 1


def test_a_failing_step_does_not_end_the_thread(monkeypatch):
    calls = []
    again = threading.Event()

    def failing():
        calls.append(1)
        if len(calls) >= 2:
            again.set()
        raise RuntimeError("boom")

    monkeypatch.setattr(gc_policy, "settle", failing)
    policy = gc_policy.start(0.01, 0)
    try:
        assert again.wait(5)
    finally:
        policy.stop()


def test_zero_turns_the_policy_off():
    assert gc_policy.start(0, 3600) is None


def test_the_survivors_of_a_full_collection_are_frozen_while_the_policy_runs(monkeypatch):
    # A reconnect storm: full collections come every second; each must walk only what was made
    # since the last one, not everything since the last settle.
    monkeypatch.setattr(gc_policy, "settle", lambda: None)
    monkeypatch.setattr(gc_policy, "deep_collect", lambda: 0)
    policy = gc_policy.start(3600, 0)
    try:
        kept = Node()
        kept.me = kept
        garbage = _cycle()
        gc.collect(1)
        assert any(o is kept for o in gc.get_objects())  # a young collection freezes nothing
        gc.collect(2)
        assert garbage() is None
        assert not any(o is kept for o in gc.get_objects())  # frozen
    finally:
        policy.stop()
    assert gc_policy._freeze_after not in gc.callbacks
    gc.collect(2)
    other = Node()
    other.me = other
    gc.collect(2)
    assert any(o is other for o in gc.get_objects())  # stopped: nothing frozen any more
