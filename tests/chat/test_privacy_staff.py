"""/privacy/ tells the truth about the audit log, staff records and access reviews, in fi, sv and
en, from the settings the purge itself uses."""

from __future__ import annotations

import html

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

PERIODS = {"fi": "{} kuukautta", "sv": "{} månader", "en": "{} months"}
# The notice's own wording on access reviews ("tarvittaessa"), never a promise it does not make.
REVIEWED = {"fi": "tarvittaessa", "sv": "vid behov", "en": "when needed"}
NOT_PROMISED = {"fi": "säännöllisesti", "sv": "regelbundet", "en": "regularly"}
# What an audit entry holds: the staff member's account and IP address, the chat's reference.
AUDIT_HOLDS = {
    "fi": ["käyttäjätunnus", "yhteytensä IP-osoite", "keskustelun tunnus"],
    "sv": ["användarnamn", "IP-adressen för hens anslutning", "samtalets kod"],
    "en": ["user name", "the IP address of their connection", "the conversation's reference"],
}
STAFF_HEADING = {
    "fi": "Tiedot asiakaspalvelun henkilökunnasta",
    "sv": "Uppgifter om kundtjänstens personal",
    "en": "Data about customer-service staff",
}


def _section(lang: str, key: str) -> str:
    page = Client().get("/privacy/", {"lang": lang}).content.decode()
    start = page.index(f'<section id="{key}"')
    return html.unescape(page[start : page.index("</section>", start)])


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_the_audit_log_is_described_as_it_is_and_for_as_long_as_it_is_kept(lang, settings):
    settings.CHAT_AUDIT_RETENTION_MONTHS = 12
    security = _section(lang, "security")
    for held in AUDIT_HOLDS[lang]:
        assert held in security
    assert PERIODS[lang].format(12) in security
    settings.CHAT_AUDIT_RETENTION_MONTHS = 18
    security = _section(lang, "security")
    assert PERIODS[lang].format(18) in security
    assert PERIODS[lang].format(12) not in security


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_access_rights_are_reviewed_as_the_notice_says_not_more(lang):
    page = Client().get("/privacy/", {"lang": lang}).content.decode()
    assert REVIEWED[lang] in _section(lang, "security")
    assert REVIEWED[lang] in _section(lang, "responsible")
    assert NOT_PROMISED[lang] not in page


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_staff_are_told_what_is_recorded_about_them_and_for_how_long(lang, settings):
    settings.CHAT_AUDIT_RETENTION_MONTHS = 15
    settings.CHAT_RETENTION_MONTHS = 4
    staff = _section(lang, "staff")
    assert f">{STAFF_HEADING[lang]}</h2>" in staff
    assert PERIODS[lang].format(15) in staff
    assert PERIODS[lang].format(4) in staff
    assert "IP" in staff
