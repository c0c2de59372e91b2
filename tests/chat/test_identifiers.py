"""The identifier guard (chat/identifiers.py) and its mirror in the widget (identifiers.js)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from chat import identifiers
from chat.identifiers import CARD, EMAIL, IBAN, PERSONAL_CODE

JS_MODULE = Path(__file__).resolve().parents[2] / "static" / "shared" / "identifiers.js"

# Codes with a correct check character, one or more for every century sign (the 2023 signs from
# the Digital and Population Data Services Agency's examples), temporary codes (900-999) too.
VALID_CODES = [
    "131052-308T",
    "131052+308T",
    "131052A308T",
    "010594Y9021",
    "020594X903P",
    "020594X902N",
    "030594W903B",
    "030694W9024",
    "040594V9030",
    "050594U903M",
    "050594U902L",
    "010516B903X",
    "010516B902W",
    "020516C903K",
    "020516C902J",
    "030516D9037",
    "030516D9026",
    "010501E9032",
    "020502E902X",
    "020503F9037",
    "020504A902E",
    "020504B904H",
    "131052-308t",  # typed in lower case
]
INVALID_CODES = [
    "131052-308U",  # wrong check character
    "131052-309T",  # digit changed
    "131052Z308T",  # no such century sign
    "131052G308T",
    "311152-308T",  # 31 November does not exist
    "290201A902X",  # 29 February 2001 does not exist
    "131352-308T",  # month 13
    "131052-000J",  # individual numbers 000 and 001 are never issued
]
VALID_CARDS = [
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "4111111111111111",
    "5555555555554444",
    "378282246310005",  # 15 digits
    "4222222222222",  # 13 digits
    "6011111111111117",
    "6011 0009 9013 9424",
    "4000 0000 0000 0000 006",  # 19 digits
    "3782 822463 10005",  # grouped as American Express prints it
]
INVALID_CARDS = [
    "4111 1111 1111 1112",  # Luhn fails
    "411111111111",  # 12 digits
    "41111111111111111111",  # 20 digits
    "0000 0000 0000 0000",  # starts with 0: no card does
    "4111  1111 1111 1111",  # two spaces: not one number
    "411 1111 1111 11111",  # not grouped as cards are
]
VALID_IBANS = [
    "FI21 1234 5600 0007 85",
    "FI2112345600000785",
    "fi21 1234 5600 0007 85",
    "DE89 3704 0044 0532 0130 00",
    "GB82 WEST 1234 5698 7654 32",
    "SE45 5000 0000 0583 9825 7466",
    "NO93 8601 1117 947",
    "EE38 2200 2210 2014 5685",
]
INVALID_IBANS = [
    "FI21 1234 5600 0007 86",  # mod 97 fails
    "FI21 1234 5600 0007 8",  # too short for Finland
    "ZZ21 1234 5600 0007 85",  # no such country
    "DE89 3704 0044 0532 0130",  # too short for Germany
]
# Look like numbers, are none of the above.
HARMLESS = [
    "12.10.2026",
    "2026-10-12",
    "12/10/26 klo 14.30",
    "+358 40 123 4567",
    "040-123 4567",
    "(09) 310 12345",
    "tilausnumero 1234567890",
    "ORD-2026-001234",
    "#20261012-0042",
    "kurssi 123456-789",
    "Y-tunnus 1234567-1",
    "0401234567890",
]


def _kinds_py(text: str) -> list[str]:
    return identifiers.kinds(text)


def _kinds_js(texts: list[str]) -> list[list[str]]:
    script = (
        f"import {{ kinds }} from {json.dumps(JS_MODULE.as_uri())};\n"
        "const texts = JSON.parse(process.argv[1]);\n"
        "console.log(JSON.stringify(texts.map((t) => kinds(t))));\n"
    )
    out = subprocess.run(
        ["node", "--input-type=module", "-e", script, json.dumps(texts)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout)


TABLE = (
    [(c, [PERSONAL_CODE]) for c in VALID_CODES]
    + [(c, []) for c in INVALID_CODES]
    + [(c, [CARD]) for c in VALID_CARDS]
    + [(c, []) for c in INVALID_CARDS]
    + [(c, [IBAN]) for c in VALID_IBANS]
    + [(c, []) for c in INVALID_IBANS]
    + [(c, []) for c in HARMLESS]
)


@pytest.mark.parametrize(("text", "expected"), TABLE)
def test_it_finds_exactly_the_valid_identifiers(text, expected):
    assert _kinds_py(text) == expected
    # Inside a sentence too, and the rest of the sentence is kept.
    sentence = f"Minun numeroni on {text}, kiitos."
    masked = identifiers.mask(sentence)
    if expected:
        assert masked == f"Minun numeroni on {identifiers.marker(expected[0])}, kiitos."
    else:
        assert masked == sentence


def test_the_widget_finds_exactly_what_the_server_masks():
    texts = [text for text, _ in TABLE] + [f"nro {text}." for text, _ in TABLE]
    assert _kinds_js(texts) == [_kinds_py(t) for t in texts]


def test_it_masks_every_identifier_of_a_message_and_nothing_else():
    text = (
        "Hetu 131052-308T, kortti 4111 1111 1111 1111 ja tili FI21 1234 5600 0007 85. "
        "Puh 040 123 4567."
    )
    assert identifiers.mask(text) == (
        "Hetu \ue000pic\ue001, kortti \ue000card\ue001 ja tili \ue000iban\ue001. Puh 040 123 4567."
    )


def test_it_masks_numbers_written_against_each_other():
    masked = identifiers.mask("4111111111111111FI2112345600000785")
    assert identifiers.find(masked) == []
    assert masked == "\ue000card\ue001\ue000iban\ue001"


def test_it_masks_addresses_only_when_asked():
    assert identifiers.mask("visitor0@example.fi") == "visitor0@example.fi"
    assert identifiers.mask("visitor0@example.fi", emails=True) == identifiers.marker(EMAIL)


def test_stray_marker_characters_are_removed_and_cleaning_twice_changes_nothing():
    assert identifiers.guard("a\ue000 b\ue001c \ue000nope\ue001") == "a bc nope"
    once = identifiers.guard("hetu 131052-308T \ue000")
    assert once == "hetu \ue000pic\ue001 "
    assert identifiers.guard(once) == once


def test_it_renders_markers_in_the_viewers_language():
    from django.utils import translation

    text = f"hetu {identifiers.marker(PERSONAL_CODE)}"
    with translation.override("fi"):
        assert identifiers.render(text) == "hetu [henkilötunnus]"
    with translation.override("sv"):
        assert identifiers.render(text) == "hetu [personbeteckning]"
    with translation.override("en"):
        assert identifiers.render(text) == "hetu [personal identity code]"


# --- properties -------------------------------------------------------------------------------

_identifier = st.sampled_from(VALID_CODES + VALID_CARDS + VALID_IBANS)
_harmless = st.sampled_from(HARMLESS)
_digits = st.text(alphabet="0123456789 -+/.", max_size=30)
_words = st.text(max_size=40)
_piece = st.one_of(_identifier, _harmless, _digits, _words, st.sampled_from([" ", "\n", ", "]))


@hsettings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_piece, max_size=12).map("".join))
def test_masked_text_never_holds_a_valid_identifier(text):
    masked = identifiers.guard(text)
    assert identifiers.find(masked) == []
    assert identifiers.guard(masked) == masked
    assert len(masked) <= len(text)


_date = st.builds(
    lambda d, m, y, sep: f"{d}{sep}{m}{sep}{y}",
    st.integers(1, 31),
    st.integers(1, 12),
    st.integers(1900, 2099),
    st.sampled_from([".", "/", "-"]),
)
_phone = st.builds(
    lambda prefix, a, b: f"{prefix} {a} {b}",
    st.sampled_from(["+358 40", "+358 50", "040", "050", "09", "+46 70", "(09)"]),
    st.integers(100, 999),
    st.integers(1000, 9999),
)
_order = st.builds(
    lambda prefix, n: f"{prefix}{n}",
    st.sampled_from(["#", "ORD-", "tilaus ", "order no. ", "nro "]),
    st.integers(0, 10**12 - 1),
)
_prose = st.text(alphabet=st.characters(categories=("L", "Zs", "P")), max_size=40)


@hsettings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_date, _phone, _order, _prose), max_size=10).map(" ".join))
def test_text_without_an_identifier_is_unchanged(text):
    assert identifiers.mask(text) == text
