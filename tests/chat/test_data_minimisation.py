"""What the register keeps is what the settings say, and the privacy notice says the same:
identifier policy, page query parameters, host context keys, raw user agents."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as global_apps

from chat.models import Conversation, VisitorConnection
from chat.privacy import privacy_notice
from tests.test_settings import _run

pytestmark = pytest.mark.django_db

SETTINGS_PROBE = (
    "import json, django; from django.conf import settings as s; django.setup();"
    "print(json.dumps([s.CHAT_IDENTIFIER_POLICY, s.CHAT_PAGE_QUERY_PARAMS, s.CHAT_CONTEXT_KEYS,"
    " s.CHAT_STORE_USER_AGENT]))"
)


def _content(lang: str) -> str:
    section = next(s for s in privacy_notice(lang).sections if s.key == "content")
    return " ".join(section.bullets + section.after)


def test_the_defaults_mask_identifiers_and_keep_no_query_context_or_raw_user_agent():
    result = _run({}, SETTINGS_PROBE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '["mask", [], [], false]'


def test_the_settings_are_read_from_the_environment():
    result = _run(
        {
            "CHAT_IDENTIFIER_POLICY": "warn",
            "CHAT_PAGE_QUERY_PARAMS": "lang,course",
            "CHAT_CONTEXT_KEYS": "customer",
            "CHAT_STORE_USER_AGENT": "1",
        },
        SETTINGS_PROBE,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '["warn", ["lang", "course"], ["customer"], true]'


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CHAT_IDENTIFIER_POLICY", "hide"),
        ("CHAT_PAGE_QUERY_PARAMS", "lang,,course"),
        ("CHAT_CONTEXT_KEYS", "customer, plan"),
        ("CHAT_STORE_USER_AGENT", "maybe"),
    ],
)
def test_a_bad_value_stops_the_start_with_its_name(name, value):
    result = _run({name: value}, SETTINGS_PROBE)
    assert result.returncode != 0
    assert name in result.stderr


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_the_notice_says_what_the_settings_keep(lang, settings):
    default = _content(lang)
    settings.CHAT_CONTEXT_KEYS = ["customer_number"]
    settings.CHAT_PAGE_QUERY_PARAMS = ["course"]
    settings.CHAT_STORE_USER_AGENT = True
    configured = _content(lang)
    assert "customer_number" not in default and "customer_number" in configured
    assert "course" not in default and "course" in configured
    assert "user agent" not in default and "user agent" in configured
    settings.CHAT_IDENTIFIER_POLICY = "off"
    assert len(_content(lang)) < len(configured)


def test_the_notice_tells_the_visitor_about_the_guard_in_each_language():
    assert "henkilötunnus" in _content("fi")
    assert "personbeteckning" in _content("sv")
    assert "personal identity code" in _content("en")


def test_the_migration_empties_raw_user_agents_unless_they_are_kept(settings):
    migration = importlib.import_module("chat.migrations.0007_clear_stored_user_agents")
    conversation = Conversation.objects.create(token_hash="x" * 64)
    row = VisitorConnection.objects.create(
        conversation=conversation, user_agent="Mozilla/5.0", browser="Firefox"
    )
    settings.CHAT_STORE_USER_AGENT = True
    migration.clear_user_agents(global_apps, None)
    row.refresh_from_db()
    assert row.user_agent == "Mozilla/5.0"
    settings.CHAT_STORE_USER_AGENT = False
    migration.clear_user_agents(global_apps, None)
    row.refresh_from_db()
    assert (row.user_agent, row.browser) == ("", "Firefox")
