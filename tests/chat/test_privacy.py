"""/privacy/: the notice in fi, sv and en, built from the controller details and live settings."""

from __future__ import annotations

import html
import re

import pytest
from django.test import Client

from chat.models import ControllerDetails
from chat.privacy import notice_language, privacy_notice, retention_period_text

pytestmark = pytest.mark.django_db

PERIODS = {"fi": "{} kuukautta", "sv": "{} månader", "en": "{} months"}
HEADINGS = {
    "fi": ["Rekisterinpitäjä", "Rekisterin tietosisältö", "Tietojen säilytysaika"],
    "sv": ["Personuppgiftsansvarig", "Registrets innehåll", "Lagringstid"],
    "en": ["Controller", "Data content", "Retention period"],
}


@pytest.fixture
def controller(db):
    return ControllerDetails.objects.create(
        register_name="Chat register",
        controller_name="Example Study Centre ry / Example Adult Education Centre",
        business_id="1234567-8",
        address="Example Street 1, 00100 Helsinki",
        phone="09 123 4567",
        email="office@example.org",
        responsible_person="The head principal",
        register_contact="Service director Sam Example, sam@example.org",
    )


def _page(lang: str | None = None, **headers) -> str:
    response = Client().get("/privacy/", {"lang": lang} if lang else {}, **headers)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_the_page_shows_the_retention_period_the_setting_holds(lang, settings, controller):
    assert PERIODS[lang].format(3) in _page(lang)
    settings.CHAT_RETENTION_MONTHS = 6
    page = _page(lang)
    assert PERIODS[lang].format(6) in page
    assert PERIODS[lang].format(3) not in page


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_the_page_is_in_the_asked_language_with_the_controller_from_admin(lang, controller):
    page = _page(lang)
    assert f'<html lang="{lang}">' in page
    for heading in HEADINGS[lang]:
        assert f">{heading}</h2>" in page
    for value in (
        "Example Study Centre ry / Example Adult Education Centre",
        "1234567-8",
        "Example Street 1, 00100 Helsinki",
        "The head principal",
        "Service director Sam Example, sam@example.org",
    ):
        assert value in page
    assert 'href="mailto:office@example.org"' in page
    assert 'href="tel:091234567"' in page


def test_editing_the_controller_details_changes_the_page(controller):
    controller.controller_name = "Renamed Controller ry"
    controller.save()
    assert "Renamed Controller ry" in _page("en")


def test_the_default_language_is_finnish_and_the_browser_may_choose_another(controller):
    assert '<html lang="fi">' in _page()
    assert '<html lang="sv">' in _page(HTTP_ACCEPT_LANGUAGE="sv-FI,sv;q=0.9")
    assert '<html lang="en">' in _page(HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.8")
    # ?lang= wins over the browser; an unknown one is ignored.
    assert '<html lang="fi">' in _page("fi", HTTP_ACCEPT_LANGUAGE="en")
    assert '<html lang="en">' in _page("de", HTTP_ACCEPT_LANGUAGE="en")
    assert '<html lang="fi">' in _page("de", HTTP_ACCEPT_LANGUAGE="de")


def test_the_language_switcher_links_every_version_and_marks_the_current_one(controller):
    page = _page("sv")
    links = re.findall(
        r'<a href="\?lang=(\w+)" hreflang="\w+" lang="\w+"( aria-current="page")?', page
    )
    assert links == [("fi", ""), ("sv", ' aria-current="page"'), ("en", "")]


def test_the_notice_states_no_disclosures_no_transfers_and_monitored_access(controller):
    page = html.unescape(_page("en"))
    assert "not disclosed to third parties" in page
    assert "not transferred outside the EU or EEA" in page
    assert "Only those of the controller's staff who need the data" in page
    assert "recorded in a log" in page
    assert "ABCDE-12345" in page  # how to quote the conversation reference
    for item in ("IP address", "device data", "pages you open", "quick feedback"):
        assert item in page


def test_it_works_before_the_controller_details_are_filled_in():
    page = _page("fi")
    assert "rekisterinpitäjä ei ole vielä ilmoittanut" in page
    assert "3 kuukautta" in page


def test_the_page_is_public_and_has_no_inline_script_or_style(controller):
    response = Client().get("/privacy/?lang=en")
    page = response.content.decode()
    assert "<script" not in page and "<style" not in page and " style=" not in page
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response["Content-Language"] == "en"


def test_controller_text_is_escaped(controller):
    controller.controller_name = '<img src=x onerror="alert(1)">'
    controller.save()
    page = _page("en")
    assert "<img src=x" not in page
    assert "&lt;img src=x" in page


@pytest.mark.parametrize(
    ("months", "lang", "text"),
    [(1, "fi", "1 kuukauden"), (1, "sv", "1 månad"), (1, "en", "1 month"), (12, "en", "12 months")],
)
def test_the_period_reads_naturally(months, lang, text):
    assert retention_period_text(months, lang) == text


def test_the_notice_builder_falls_back_to_finnish_for_an_unknown_language(controller):
    assert privacy_notice("de").lang == "fi"


def test_notice_language_prefers_the_query_parameter(rf, settings):
    assert notice_language(rf.get("/privacy/", {"lang": "sv"})) == "sv"
    settings.LANGUAGE_CODE = "en"
    assert notice_language(rf.get("/privacy/")) == "en"


BACKUPS = {
    "fi": "Varmuuskopioita säilytetään enintään {days} päivää",
    "sv": "Säkerhetskopior sparas i högst {days} dagar",
    "en": "Backups are kept for at most {days} days",
}
TOTAL = {
    "fi": "enintään 6 kuukautta ja {days} päivää",
    "sv": "högst 6 månader och {days} dagar",
    "en": "at most 6 months and {days} days in total",
}


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_the_page_states_the_backup_rotation_and_the_longest_time_in_backups(
    lang, settings, controller
):
    settings.CHAT_RETENTION_MONTHS = 6
    settings.CHAT_BACKUP_ROTATION_DAYS = 21
    page = html.unescape(_page(lang))
    assert BACKUPS[lang].format(days=21) in page
    assert TOTAL[lang].format(days=21) in page
    settings.CHAT_BACKUP_ROTATION_DAYS = 40
    page = html.unescape(_page(lang))
    assert BACKUPS[lang].format(days=40) in page
    assert BACKUPS[lang].format(days=21) not in page


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("fi", ["evästeessä helao_visitor", "viimeistään 112 päivän kuluttua", "helao_probe"]),
        ("sv", ["kakan helao_visitor", "senast efter 112 dagar", "helao_probe"]),
        ("en", ["cookie, helao_visitor", "after 112 days at the latest", "helao_probe"]),
    ],
)
def test_the_page_names_the_cookies_the_widget_may_set_and_how_long_they_last(
    lang, words, settings, controller
):
    settings.CHAT_RETENTION_MONTHS = 4
    page = html.unescape(_page(lang))
    for word in words:
        assert word in page
