"""The identifier guard: personal identity codes, card numbers and IBANs kept out of the register.

A visitor (or an agent) sometimes types a Finnish personal identity code, a payment card number or
an IBAN into the chat. Under the default policy (`CHAT_IDENTIFIER_POLICY=mask`) such a number is
replaced, before anything is stored, logged or announced, by a *marker*: a language-neutral token
that every viewer renders as a clearly marked placeholder in their own language ("[henkilötunnus]"
for a Finnish console, "[personal identity code]" for an English one). The original is never kept.

Why a language-neutral marker rather than a placeholder in the chat's language: the same stored
message is read by a visitor in Finnish, an agent whose console is in Swedish and a director
exporting in English; a stored word would be wrong for two of them, and could not be told apart
from the same word typed by the visitor. The marker is MARK_START + kind + MARK_END, two
private-use characters no keyboard has; stray ones are removed from all incoming text
(`strip_marks`), so nothing typed can break or fake part of a placeholder.

The rules here are mirrored in static/shared/identifiers.js (the widget's warning before sending);
tests/chat/test_identifiers.py checks both against the same table.
"""

from __future__ import annotations

import re
from datetime import date

from django.conf import settings
from django.utils.translation import gettext, pgettext

#: Private-use characters around a marker's kind: never typed by anyone, removed from input.
MARK_START = "\ue000"
MARK_END = "\ue001"

PERSONAL_CODE = "pic"
CARD = "card"
IBAN = "iban"
EMAIL = "email"
KINDS = (PERSONAL_CODE, CARD, IBAN, EMAIL)

_MARKS = re.compile(f"[{MARK_START}{MARK_END}]")
MARKER = re.compile(f"{MARK_START}([a-z]{{1,8}}){MARK_END}")

# --- Finnish personal identity code (henkilötunnus) -------------------------------------------

# DDMMYY, the century sign, the individual number NNN and the check character. The century signs
# in use since 2023 (Y X W V U for the 1900s, B C D E F for the 2000s) count like - and A.
_CENTURY = {"+": 1800, "-": 1900, "A": 2000}
_CENTURY.update(dict.fromkeys("YXWVU", 1900))
_CENTURY.update(dict.fromkeys("BCDEF", 2000))
_CHECK_CHARS = "0123456789ABCDEFHJKLMNPRSTUVWXY"
_PERSONAL_CODE = re.compile(
    r"(?<![0-9A-Za-z])(\d{2})(\d{2})(\d{2})([-+A-FU-Ya-fu-y])(\d{3})([0-9A-Ya-y])(?![0-9A-Za-z])"
)


def _personal_code_valid(match: re.Match[str]) -> bool:
    day, month, year, sign, number, check = match.groups()
    try:
        date(_CENTURY[sign.upper()] + int(year), int(month), int(day))
    except ValueError:
        return False
    if int(number) < 2:
        return False
    return _CHECK_CHARS[int(day + month + year + number) % 31] == check.upper()


# --- payment card numbers ----------------------------------------------------------------------

# 13-19 digits, written as one run or in the groups cards print (4-4-4-4 with up to two more
# groups, 4-6-5, 4-6-4), separated by spaces or dashes. Not part of a longer run of digits, not
# after "+" (a phone number in international form) and not starting with 0 (no card number does;
# many phone and order numbers do). Numbers that merely follow each other ("tilaus 123456789012
# 4.1.") are not one card number.
_CARD = re.compile(
    r"(?<![\d+])(?<!\d[ -])[1-9]"
    r"(?:\d{12,18}|\d{3}([ -])\d{4}\1\d{4}(?:\1\d{1,4}){1,2}|\d{3}([ -])\d{6}\2\d{4,5})"
    r"(?![ -]?\d)"
)


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


# --- IBAN --------------------------------------------------------------------------------------

# The length of each country's IBAN, from the SWIFT IBAN registry. A country not listed here has
# no IBAN; its lookalikes are left alone.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AX": 18, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22,
    "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23,
    "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30,
    "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
    "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
# Where an IBAN may begin: a country code and two check digits, at the start of a word.
_IBAN_START = re.compile(r"(?<![0-9A-Za-z])([A-Za-z]{2})(\d{2})")
_ALNUM = re.compile(r"[0-9A-Za-z]")


def iban_valid(compact: str) -> bool:
    """ISO 13616: the right length for its country and the mod 97 check."""
    compact = compact.upper()
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _iban_end(text: str, start: int) -> int | None:
    """Where the IBAN beginning at `start` ends, or None if none begins there."""
    length = IBAN_LENGTHS.get(text[start : start + 2].upper())
    if length is None:
        return None
    compact: list[str] = []
    i = start
    while len(compact) < length and i < len(text):
        ch = text[i]
        if _ALNUM.match(ch):
            compact.append(ch)
            i += 1
        elif ch == " " and compact and i + 1 < len(text) and _ALNUM.match(text[i + 1]):
            i += 1
        else:
            break
    if len(compact) != length or (i < len(text) and _ALNUM.match(text[i])):
        return None
    return i if iban_valid("".join(compact)) else None


# --- e-mail addresses (page URLs and titles only: a visitor may well give theirs in a message) --

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


# --- finding and masking -----------------------------------------------------------------------


def marker(kind: str) -> str:
    return f"{MARK_START}{kind}{MARK_END}"


def strip_marks(text: str) -> str:
    """`text` without stray marker characters; whole markers of a known kind are kept.

    Keeping whole markers makes the guard idempotent (a text may be cleaned twice on its way to
    the database). Typing a whole marker takes two private-use characters no keyboard has, and
    all it can do is show a placeholder where the writer chose to show one.
    """
    if MARK_START not in text and MARK_END not in text:
        return text
    out, last = [], 0
    for match in MARKER.finditer(text):
        if match.group(1) in KINDS:
            out.append(_MARKS.sub("", text[last : match.start()]))
            out.append(match.group())
            last = match.end()
    out.append(_MARKS.sub("", text[last:]))
    return "".join(out)


def find(text: str, *, emails: bool = False) -> list[tuple[int, int, str]]:
    """The identifiers in `text` as (start, end, kind), in order, not overlapping."""
    found: list[tuple[int, int, str]] = []
    for match in _PERSONAL_CODE.finditer(text):
        if _personal_code_valid(match):
            found.append((match.start(), match.end(), PERSONAL_CODE))
    for match in _CARD.finditer(text):
        if luhn_valid(re.sub(r"[ -]", "", match.group())):
            found.append((match.start(), match.end(), CARD))
    for match in _IBAN_START.finditer(text):
        end = _iban_end(text, match.start())
        if end is not None:
            found.append((match.start(), end, IBAN))
    if emails:
        found.extend((m.start(), m.end(), EMAIL) for m in _EMAIL.finditer(text))
    found.sort()
    kept: list[tuple[int, int, str]] = []
    for span in found:
        if not kept or span[0] >= kept[-1][1]:
            kept.append(span)
    return kept


def kinds(text: str, *, emails: bool = False) -> list[str]:
    """Which kinds of identifier `text` holds (each once, in order of appearance)."""
    return list(dict.fromkeys(kind for _, _, kind in find(text, emails=emails)))


def mask(text: str, *, emails: bool = False) -> str:
    """`text` with every identifier replaced by its marker; anything else is left as it is.

    A marker is always shorter than what it replaces, so length limits still hold.
    """
    # Again until nothing is found: a number written right against an identifier (no space in
    # between) only becomes a number of its own once its neighbour is a marker.
    while spans := find(text, emails=emails):
        out, last = [], 0
        for start, end, kind in spans:
            out.append(text[last:start])
            out.append(marker(kind))
            last = end
        out.append(text[last:])
        text = "".join(out)
    return text


def guard(text: str) -> str:
    """`text` as it may be stored under `CHAT_IDENTIFIER_POLICY`: the one rule every path calls.

    `mask` replaces identifiers by markers; `warn` and `off` keep the text as typed (under `warn`
    the widget has warned the visitor before sending). Marker characters typed by anyone are
    removed under every policy.
    """
    text = strip_marks(text)
    if settings.CHAT_IDENTIFIER_POLICY == "mask":
        return mask(text)
    return text


def guard_page(text: str) -> str:
    """`text` of a page URL or title as stored: identifiers and e-mail addresses masked.

    Nobody can be warned about what their browser sends, so under `warn` these are masked too;
    only `off` keeps them.
    """
    text = strip_marks(text)
    if settings.CHAT_IDENTIFIER_POLICY == "off":
        return text
    return mask(text, emails=True)


# --- showing markers ---------------------------------------------------------------------------


def labels() -> dict[str, str]:
    """The placeholder of each kind in the active language, e.g. "[henkilötunnus]"."""
    return {
        PERSONAL_CODE: pgettext("hidden identifier", "[personal identity code]"),
        CARD: pgettext("hidden identifier", "[card number]"),
        IBAN: pgettext("hidden identifier", "[bank account number]"),
        EMAIL: pgettext("hidden identifier", "[e-mail address]"),
    }


def hidden_label() -> str:
    """The tooltip on a placeholder: why the viewer sees no number."""
    return gettext("Hidden by the chat: it looked like an identifier, so it was not stored.")


def split(text: str) -> list[tuple[str, str | None]]:
    """`text` as pieces (text, None) and placeholders (label, kind), in the active language."""
    if MARK_START not in text:
        return [(text, None)]
    names = labels()
    pieces: list[tuple[str, str | None]] = []
    last = 0
    for match in MARKER.finditer(text):
        if match.start() > last:
            pieces.append((text[last : match.start()], None))
        kind = match.group(1)
        pieces.append((names.get(kind, f"[{kind}]"), kind))
        last = match.end()
    if last < len(text):
        pieces.append((text[last:], None))
    return pieces


def render(text: str) -> str:
    """`text` with each marker shown as its placeholder in the active language (plain text)."""
    if not text or MARK_START not in text:
        return text
    return "".join(piece for piece, _ in split(text))
