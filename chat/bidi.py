"""Bidirectional-text hygiene: one rule for names, one for showing text next to the product's own.

A bidi control (for example U+202E RIGHT-TO-LEFT OVERRIDE) in a name reverses the text around
it wherever the name is shown inline: "tahc eht denioj" instead of "joined the chat". Names are
therefore stored and shown without these characters (`strip_bidi_controls`), and every piece of
user text is isolated where it is shown (`<bdi>`, `dir="auto"`, FSI … PDI in plain text), so that
even a strong right-to-left name cannot reorder what surrounds it. A visitor's message keeps its
characters (it is the visitor's data); agents see the controls as visible markers instead.
"""

from __future__ import annotations

import re
import unicodedata

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString

#: The embeddings, overrides, isolates and marks of Unicode's bidirectional algorithm:
#: LRE RLE PDF LRO RLO (U+202A to U+202E), LRI RLI FSI PDI (U+2066 to U+2069), LRM RLM (U+200E,
#: U+200F) and the Arabic letter mark (U+061C).
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_BIDI = re.compile(f"[{BIDI_CONTROLS}]")

# Bidi classes of the characters that can reorder neighbouring text: right-to-left letters,
# Arabic digits and the controls themselves.
_REORDERING = frozenset(
    ("R", "AL", "AN", "LRE", "RLE", "PDF", "LRO", "RLO", "LRI", "RLI", "FSI", "PDI")
)
FIRST_STRONG_ISOLATE = "\u2068"
POP_DIRECTIONAL_ISOLATE = "\u2069"


def strip_bidi_controls(text: str) -> str:
    """`text` without any bidi control character: the rule for every name shown to others."""
    return _BIDI.sub("", text) if text else text


def has_bidi_controls(text: str) -> bool:
    return bool(text) and _BIDI.search(text) is not None


def control_marker(char: str) -> str:
    """The visible stand-in for a control character, e.g. "⟨U+202E⟩"."""
    return f"⟨U+{ord(char):04X}⟩"


def _may_reorder(text: str) -> bool:
    """Holds a bidi control or a right-to-left letter, i.e. could move the text around it."""
    return any(unicodedata.bidirectional(ch) in _REORDERING for ch in text)


def isolate_plain(text: str) -> str:
    """`text` between FIRST STRONG ISOLATE and POP DIRECTIONAL ISOLATE, for plain-text output.

    The isolate closes every embedding or override opened inside it, so user text keeps its own
    characters and direction but cannot reorder the labels printed around it. Text that could
    not reorder anything (no right-to-left letter, no control) is returned as is, so that the
    usual export has no invisible characters for an editor to show as <2068>.
    """
    if not text or not _may_reorder(text):
        return text
    return f"{FIRST_STRONG_ISOLATE}{text}{POP_DIRECTIONAL_ISOLATE}"


def visible_controls_html(text: str) -> SafeString:
    """Escaped `text` in which each bidi control is shown as a marked-up visible marker.

    For staff views of a visitor's text: the characters are neither hidden nor obeyed.
    """
    if not has_bidi_controls(text):
        return escape(text)
    html = SafeString()
    last = 0
    for match in _BIDI.finditer(text):
        marker = control_marker(match.group())
        html += escape(text[last : match.start()])
        html += format_html('<span class="bidi-mark">{}</span>', marker)
        last = match.end()
    return html + escape(text[last:])


def bdi(value: object) -> SafeString:
    """`value` escaped inside `<bdi>`, for admin list columns and other inline HTML."""
    return format_html("<bdi>{}</bdi>", "" if value is None else value)
