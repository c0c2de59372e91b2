"""The translation catalogues: every app's fi and sv .po is complete (no untranslated or fuzzy
entry), its committed .mo says the same, and what Django shows is ours: a msgid that Django's
own catalogues also translate (e.g. "History", "Muokkaushistoria" in the admin's Finnish) or
that two apps translate differently would otherwise show someone else's word."""

from __future__ import annotations

import gettext
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

ROOT = Path(settings.BASE_DIR)
APPS = ("chat", "retention", "dsr", "agents", "feedback")
LANGUAGES = ("fi", "sv")


@dataclass
class Entry:
    msgid: str
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: list[str] = field(default_factory=list)
    fuzzy: bool = False
    line: int = 0


_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), text)


def po_entries(path: Path) -> list[Entry]:
    """The entries of a .po file (obsolete `#~` ones left out), the header included."""
    entries: list[Entry] = []
    current: Entry | None = None
    key = None
    fuzzy = False
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if line.startswith("#,"):
            fuzzy = fuzzy or "fuzzy" in line
            continue
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if line.startswith('"'):
            value = _unquote(_STRING.fullmatch(line).group(1))
        else:
            value = _unquote(_STRING.fullmatch(rest).group(1))
        if keyword == "msgctxt" or (keyword == "msgid" and (current is None or key != "msgctxt")):
            current = Entry(msgid="", fuzzy=fuzzy, line=number)
            entries.append(current)
            fuzzy = False
        if line.startswith('"'):
            if key == "msgstr":
                current.msgstr[-1] += value
            else:
                setattr(current, key, getattr(current, key) + value)
        elif keyword.startswith("msgstr"):
            key = "msgstr"
            current.msgstr.append(value)
        else:
            key = keyword
            setattr(current, keyword, value)
    return entries


def catalogues() -> list[tuple[str, str, Path]]:
    found = [
        (app, lang, ROOT / app / "locale" / lang / "LC_MESSAGES" / "django.po")
        for app in APPS
        for lang in LANGUAGES
    ]
    return [c for c in found if c[2].exists()]


def product_entries() -> list[tuple[str, Entry]]:
    """(language, entry) for every translated entry of the product's own catalogues."""
    return [(lang, e) for _app, lang, path in catalogues() for e in po_entries(path) if e.msgid]


def test_every_app_has_a_finnish_and_a_swedish_catalogue():
    for app in APPS:
        for lang in LANGUAGES:
            path = ROOT / app / "locale" / lang / "LC_MESSAGES" / "django.po"
            assert path.exists(), (app, lang)


@pytest.mark.parametrize(("app", "lang", "path"), catalogues(), ids=lambda v: str(v))
def test_no_catalogue_has_an_untranslated_or_fuzzy_entry(app, lang, path):
    problems = [
        f"{path.relative_to(ROOT)}:{e.line}: {'fuzzy' if e.fuzzy else 'untranslated'} {e.msgid!r}"
        for e in po_entries(path)
        if e.msgid and (e.fuzzy or not e.msgstr or not all(s.strip() for s in e.msgstr))
    ]
    assert problems == []


@pytest.mark.parametrize(("app", "lang", "path"), catalogues(), ids=lambda v: str(v))
def test_the_committed_mo_file_holds_what_the_po_file_says(app, lang, path):
    with path.with_suffix(".mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for entry in po_entries(path):
        if not entry.msgid:
            continue
        if entry.msgid_plural is not None:
            got = [
                compiled.npgettext(entry.msgctxt, entry.msgid, entry.msgid_plural, n)
                if entry.msgctxt
                else compiled.ngettext(entry.msgid, entry.msgid_plural, n)
                for n in (1, 2)
            ]
            assert got == entry.msgstr[:2], (path.name, entry.msgid)
        else:
            got = (
                compiled.pgettext(entry.msgctxt, entry.msgid)
                if entry.msgctxt
                else compiled.gettext(entry.msgid)
            )
            assert got == entry.msgstr[0], (str(path), entry.msgid)


def test_django_shows_our_translation_of_every_entry():
    shadowed = []
    for lang, entry in product_entries():
        with translation.override(lang):
            if entry.msgid_plural is not None:
                got = (
                    translation.npgettext(entry.msgctxt, entry.msgid, entry.msgid_plural, 1)
                    if entry.msgctxt
                    else translation.ngettext(entry.msgid, entry.msgid_plural, 1)
                )
            elif entry.msgctxt:
                got = translation.pgettext(entry.msgctxt, entry.msgid)
            else:
                got = translation.gettext(entry.msgid)
        if got != entry.msgstr[0]:
            shadowed.append(f"{lang} {entry.msgid!r}: ours {entry.msgstr[0]!r}, shown {got!r}")
    assert shadowed == []


def test_the_parser_sees_fuzzy_and_empty_entries(tmp_path):
    """The checks above would pass on anything if the parser missed what they look for."""
    path = tmp_path / "django.po"
    path.write_text(
        'msgid ""\nmsgstr "Language: fi\\n"\n\n'
        '#, fuzzy\nmsgid "Close"\nmsgstr "Sulje"\n\n'
        'msgctxt "button"\nmsgid "Search"\nmsgstr ""\n\n'
        'msgid "A"\nmsgid_plural "As"\nmsgstr[0] "Yksi"\nmsgstr[1] ""\n"Monta"\n',
        encoding="utf-8",
    )
    entries = po_entries(path)
    assert [(e.msgctxt, e.msgid, e.fuzzy, e.msgstr) for e in entries[1:]] == [
        (None, "Close", True, ["Sulje"]),
        ("button", "Search", False, [""]),
        (None, "A", False, ["Yksi", "Monta"]),
    ]
