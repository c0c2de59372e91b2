"""The staff pages as one interface: each role's navigation offers exactly the pages that open
for it, every page has the shared header, dates follow the reader's language in Helsinki time,
and the Finnish and Swedish pages show no English words of the product."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from agents.roles import TEAM_LEAD
from agents.services import guidance_acknowledge, language_set
from chat.models import AuditEvent, Conversation, hash_token
from chat.services import audit_record
from tests.conftest import _user
from tests.test_catalogues import product_entries

pytestmark = pytest.mark.django_db

# Every staff page, by the key the navigation gives it.
PAGES = {
    "console": "/console/",
    "history": "/console/history/",
    "floor": "/console/floor/",
    "reports": "/reports/",
    "requests": "/console/requests/",
    "access": "/console/access/",
    "audit": "/console/access/audit/",
    "admin": "/admin/",
    "guidance": "/console/guidance/",
    "signin": "/console/sign-in/",
}
#: Which pages each role opens (and its navigation lists).
EXPECTED = {
    "alice": {"console", "history", "guidance", "signin"},
    "tove": {"console", "history", "floor", "guidance", "signin"},
    "dana": set(PAGES),
    "charlie": {"admin"},
}
# 6 Dec 2026 01:22 UTC is 03:22 in Helsinki.
WHEN = datetime(2026, 12, 6, 1, 22, tzinfo=UTC)


@pytest.fixture
def lead(roles):
    user = _user("tove", first="Tove", last="Lead")
    user.groups.add(Group.objects.get(name=TEAM_LEAD))
    return user


def staff_world(alice, lead, dana, charlie) -> dict:
    """The staff of both staff-page tests (HTTP and browser): each has acknowledged the
    guidance where their role reads it; one closed chat and one audit event at WHEN."""
    for user in (alice, lead, dana):
        guidance_acknowledge(user=user, actor_ip=None)
    closed = Conversation.objects.create(
        token_hash=hash_token("closed"),
        status=Conversation.Status.CLOSED,
        assigned_agent=alice,
        created_at=WHEN,
        last_activity_at=WHEN,
        closed_at=WHEN,
    )
    audit_record(action=AuditEvent.Action.TRANSCRIPT_OPENED, actor=dana, object_ref="x")
    AuditEvent.objects.update(created_at=WHEN)
    return {"alice": alice, "tove": lead, "dana": dana, "charlie": charlie, "closed": closed}


@pytest.fixture
def staff(alice, lead, dana, charlie):
    return staff_world(alice, lead, dana, charlie)


class _Page(HTMLParser):
    """The page's visible words: text and the attributes a screen reader reads out."""

    def __init__(self):
        super().__init__()
        self.texts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "style"):
            self._skip += 1
        for name in ("aria-label", "placeholder", "title", "alt"):
            if attrs.get(name):
                self.texts.append(attrs[name])

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.texts.append(" ".join(data.split()))


def _parse(response) -> _Page:
    page = _Page()
    page.feed(response.content.decode())
    return page


def _client(user, language: str = "en") -> Client:
    language_set(user=user, language=language)
    client = Client()
    client.force_login(user)
    return client


def _header_links(client) -> list[str]:
    """The links of the staff navigation in the shared header, from the console's start page
    or, for an account without the console, from the first page it can open."""
    for url in PAGES.values():
        response = client.get(url)
        html = response.content.decode()
        marker = next((m for m in ('class="navlist"', 'class="staff-nav"') if m in html), None)
        if response.status_code == 200 and marker:
            nav = html[html.index(marker) : html.index("</nav>", html.index(marker))]
            return re.findall(r'href="([^"]+)"', nav)
    return []


@pytest.mark.parametrize(
    ("who", "expected"),
    list(EXPECTED.items()),
)
def test_each_roles_navigation_lists_exactly_the_pages_that_open_for_it(staff, who, expected):
    client = _client(staff[who])
    opens = {key for key, url in PAGES.items() if client.get(url).status_code == 200}
    assert opens == expected
    assert set(_header_links(client)) == {PAGES[key] for key in expected}


def test_every_staff_page_has_the_shared_header_and_a_way_back_to_the_console(staff):
    client = _client(staff["dana"])
    for key, url in PAGES.items():
        if key == "admin":
            continue
        html = client.get(url).content.decode()
        assert '<header class="topbar"' in html, url
        assert 'class="brand" href="/console/"' in html, url
        assert 'href="/static/console/console.css"' in html, url
    transcript = client.get(f"/console/history/{staff['closed'].reference}/")
    assert b'<header class="topbar"' in transcript.content


def test_the_admin_carries_the_staff_navigation_back_to_the_console(staff):
    client = _client(staff["dana"], "fi")
    # The admin's index and its own pages, the retention status among them.
    for url in ("/admin/", "/admin/chat/retentionrun/status/"):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        nav = html[html.index('class="staff-nav"') : html.index("</nav>", html.index("staff-nav"))]
        assert 'href="/console/"' in nav and 'href="/console/access/"' in nav, url
        assert ">Keskustelut<" in nav, url  # in the staff member's language
    status = client.get("/admin/chat/retentionrun/status/").content.decode()
    assert "<title>Säilytyksen tila |" in status
    panel = status.split('id="retention-status"')[1]
    assert "Säilytyksen tila: häiriö" in panel  # a chat hours old, and no purge ever ran
    assert "ei onnistunutta poistoajoa viimeisen tunnin aikana" in panel
    assert "Retention" not in panel and "never" not in panel


def test_a_signed_in_account_the_admin_refuses_gets_a_403_not_a_sign_in_loop(staff):
    response = _client(staff["alice"]).get("/admin/", follow=True)
    assert response.status_code == 403
    assert len(response.redirect_chain) <= 2


def test_granting_a_role_explains_when_every_account_already_has_one(staff):
    client = _client(staff["dana"])
    html = client.get("/console/access/").content.decode()
    assert 'id="grant-user"' in html  # charlie has no role yet
    staff["charlie"].groups.add(Group.objects.get(name="Agent"))
    html = client.get("/console/access/").content.decode()
    assert 'id="grant-user"' not in html
    assert 'id="grant-none"' in html
    assert "Every active account already has a role" in html


@pytest.mark.parametrize(
    ("language", "date", "not_shown"),
    [
        ("fi", "6.12.2026 3.22", "Dec."),
        ("sv", "2026-12-06 03:22", "Dec."),
        ("en", "6 Dec 2026 03:22", "a.m."),
    ],
)
def test_dates_follow_the_readers_language_in_helsinki_time(staff, language, date, not_shown):
    client = _client(staff["dana"], language)
    for url in ("/console/history/", "/console/access/audit/"):
        html = client.get(url).content.decode()
        assert f'<time datetime="2026-12-06T03:22:00+02:00">{date}</time>' in html, url
        assert not_shown not in html, url
        assert f'<html lang="{language}">' in html, url
    request = client.post(
        "/console/requests/", {"reference": staff["closed"].reference}
    ).content.decode()
    assert f">{date}</time>" in request


def _english_words() -> set[str]:
    """The product's English: every msgid of its catalogues, as a page would show it."""
    words = set()
    for _lang, entry in product_entries():
        text = re.sub(r"%\(\w+\)[sd]|%[sd]|\{\w+\}", " ", entry.msgid)
        if len(re.findall(r"[A-Za-z]{2,}", text)) >= 1 and len(text) >= 4:
            words.add(entry.msgid)
    return words


# Words that are the same in every language: the brand, formats, keys, language names.
SAME_IN_EVERY_LANGUAGE = {"helao", "chat", "CSV", "JSON", "Alt", "Enter", "Shift", "English"}


def _words(text: str) -> set[str]:
    return set(re.findall(r"[^\W\d_]{3,}", text))


def _staff_texts(client, urls) -> list[str]:
    texts = []
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        texts += _parse(response).texts
    return texts


@pytest.mark.parametrize("language", ["fi", "sv"])
def test_finnish_and_swedish_staff_pages_show_no_english_words_of_the_product(staff, language):
    """A text shown in Finnish (Swedish) that the English page shows too, with a word that is
    neither in that language's catalogue nor data (names, references), is untranslated."""
    urls = [
        "/console/",
        "/console/history/",
        f"/console/history/{staff['closed'].reference}/",
        "/console/guidance/",
        "/console/sign-in/",
        "/console/access/",
        "/console/access/audit/",
        "/console/requests/",
        f"/console/requests/{staff['closed'].reference}/",
        "/reports/",
        # Last: the admin's index, every model by name (#26: "Retention runs" stayed English).
        "/admin/",
    ]
    english = set(_staff_texts(_client(staff["dana"], "en"), urls))
    translated = [e.msgstr for lang, e in product_entries() if lang == language]
    own_words = set().union(*(_words(s) for strings in translated for s in strings))
    data = _words("alice dana tove charlie Alice Agent Dana Director Tove Lead Charlie Nobody")
    data |= _words("user guidance suomi svenska") | SAME_IN_EVERY_LANGUAGE
    data |= _words(staff["closed"].reference)
    shown = _staff_texts(_client(staff["dana"], language), urls)
    leftovers = sorted({t for t in shown if t in english and _words(t) - own_words - data})
    assert leftovers == [], "\n".join(leftovers)
    # No msgid of two words or more appears as it is (a translation that was never used).
    page = " ".join(shown)
    msgids = {m for m in _english_words() if len(m.split()) >= 2 and m not in own_words}
    assert sorted(m for m in msgids if m in page and not _words(m) <= own_words) == []
    # The words the issue found, by name (in the admin, Django's "Muokkaa" is the right word:
    # it edits a record).
    assert "Closed" not in shown
    ours = " ".join(_staff_texts(_client(staff["dana"], language), urls[:-1]))
    assert "Muokkaushistoria" not in ours and "Muokkaa" not in ours
    assert {"fi": "Säilytysajan poistoajot", "sv": "Gallringskörningar"}[language] in shown
    assert "Retention runs" not in shown
