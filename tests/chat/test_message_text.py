"""What a chat message's text becomes before it is stored."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat.services import ChatError, clean_text


def by_rule(text: str) -> str:
    """The rule spelled out: tab, newline and every character from space up, except DEL."""
    return "".join(ch for ch in text if ch in "\t\n" or (ch >= " " and ch != "\x7f")).strip()


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("  hello\x00 there\x07  ", "hello there"),
        ("line one\nline two\tand a tab", "line one\nline two\tand a tab"),
        ("bell\x07 escape\x1b[31m del\x7f cr\r", "bell escape[31m del cr"),
        ("Hyvää päivää 👋 \u0085 next line stays", "Hyvää päivää 👋 \u0085 next line stays"),
    ],
)
def test_control_characters_are_dropped_and_the_rest_kept(text, stored):
    assert clean_text(text) == stored


@pytest.mark.parametrize("text", ["", "   ", "\x00\x01\x02", " \x7f\n\t "])
def test_nothing_left_is_an_empty_message(text):
    with pytest.raises(ChatError) as caught:
        clean_text(text)
    assert caught.value.code == "empty"


@pytest.mark.parametrize("value", [None, 5, ["hi"], {"text": "hi"}])
def test_text_must_be_a_string(value):
    with pytest.raises(ChatError) as caught:
        clean_text(value)
    assert caught.value.code == "bad_frame"


@given(st.text(alphabet=st.characters(codec="utf-8", max_codepoint=0x2FF), max_size=200))
def test_any_text_is_cleaned_by_the_rule(text):
    expected = by_rule(text)
    if expected:
        assert clean_text(text) == expected
    else:
        with pytest.raises(ChatError):
            clean_text(text)
