"""A site outside CHAT_EMBED_ORIGINS gets a message in the panel's place, not a dead launcher."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.django_db

ALLOWED = "https://www.example.org"


@pytest.fixture(autouse=True)
def embed_origins(settings):
    settings.CHAT_EMBED_ORIGINS = [ALLOWED]


def _directive(response, name: str) -> list[str]:
    for part in response["Content-Security-Policy"].split(";"):
        words = part.split()
        if words and words[0] == name:
            return words[1:]
    return []


def _config(response) -> dict:
    html = response.content.decode()
    found = re.search(r'id="helao-config" type="application/json">(.*?)</script>', html)
    return json.loads(found.group(1))


def test_it_tells_a_site_that_may_not_embed_the_chat_why(client):
    response = client.get("/widget/panel/?lang=en&o=http://127.0.0.2:8101")
    assert response.status_code == 200
    html = response.content.decode()
    assert "The chat is not available on this website." in html
    assert "this website (http://127.0.0.2:8101) is not listed" in html
    assert "CHAT_EMBED_ORIGINS" in _config(response)["console"]
    assert "http://127.0.0.2:8101" in _config(response)["console"]
    # Only that site may show the message; the real panel is not in it.
    assert _directive(response, "frame-ancestors") == ["http://127.0.0.2:8101"]
    assert 'id="hc-input"' not in html and "wsPath" not in html
    assert not response.cookies


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("fi", ["Chat ei ole käytettävissä tällä sivustolla.", "CHAT_EMBED_ORIGINS"]),
        ("sv", ["Chatten är inte tillgänglig på den här webbplatsen.", "CHAT_EMBED_ORIGINS"]),
    ],
)
def test_the_message_is_in_the_panels_language(client, lang, words):
    html = client.get(f"/widget/panel/?lang={lang}&o=https://evil.example").content.decode()
    assert f'<html lang="{lang}">' in html
    for word in words:
        assert word in html


@pytest.mark.parametrize(
    "claimed",
    [
        ALLOWED,
        ALLOWED + ":443",
        "http://testserver",  # the chat's own origin
        "",
        "null",
        "https://x.example/ path",
        "https://x.example; script-src *",
        "javascript:alert(1)",
        "https://x.example/page",
    ],
)
def test_an_allowed_own_or_unreadable_origin_gets_the_panel(client, claimed):
    response = client.get("/widget/panel/", {"lang": "en", "o": claimed})
    assert 'id="hc-input"' in response.content.decode()
    assert sorted(_directive(response, "frame-ancestors")) == ["'self'", ALLOWED]


def test_a_page_of_the_chats_own_origin_gets_the_panel(client):
    response = client.get(
        "/widget/panel/?o=https://other.example", HTTP_SEC_FETCH_SITE="same-origin"
    )
    assert 'id="hc-input"' in response.content.decode()
