"""Addresses that become links are http(s): in the form, in the model and in the database."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client

from chat.models import ControllerDetails
from chat.privacy import privacy_notice
from chat.validators import is_http_url

pytestmark = pytest.mark.django_db

UNSAFE = [
    "javascript:alert(4)",
    "JavaScript:alert(4)",
    "data:text/html,<script>alert(4)</script>",
    "ftp://files.example.org/",
    "//evil.example/",
    " https://www.example.org/",
]


@pytest.mark.parametrize("website", UNSAFE)
def test_the_database_refuses_a_website_that_is_not_http(website):
    with pytest.raises(IntegrityError), transaction.atomic():
        ControllerDetails.objects.create(controller_name="Example", website=website)
    details = ControllerDetails.objects.create(controller_name="Example")
    with pytest.raises(IntegrityError), transaction.atomic():
        ControllerDetails.objects.filter(pk=details.pk).update(website=website)


@pytest.mark.parametrize("website", UNSAFE)
def test_the_model_validation_refuses_a_website_that_is_not_http(website):
    details = ControllerDetails(controller_name="Example", website=website)
    with pytest.raises(ValidationError) as caught:
        details.full_clean()
    assert "website" in caught.value.message_dict


@pytest.mark.parametrize("website", ["", "https://www.example.org/", "HTTP://example.org"])
def test_http_websites_and_none_are_stored(website):
    details = ControllerDetails(controller_name="Example", website=website)
    details.full_clean()
    details.save()


@pytest.mark.parametrize(
    "website, error",
    [
        ("javascript:alert(4)", "Syötä oikea URL-osoite."),
        ("ftp://files.example.org/", "Anna verkko-osoite, joka alkaa http:// tai https://."),
    ],
)
def test_the_admin_form_refuses_a_website_that_is_not_http(client, dana, website, error):
    client.force_login(dana)
    response = client.post(
        "/admin/chat/controllerdetails/add/",
        {"register_name": "Chat register", "controller_name": "Example", "website": website},
        HTTP_ACCEPT_LANGUAGE="fi",
    )
    assert response.status_code == 200
    assert not ControllerDetails.objects.exists()
    assert f'<ul class="errorlist" id="id_website_error"><li>{error}</li>' in (
        response.content.decode()
    )


@pytest.mark.parametrize("website", UNSAFE)
def test_the_privacy_page_never_links_a_website_that_is_not_http(website, monkeypatch):
    # A row that got past the model (written before the constraint, or by raw SQL).
    details = ControllerDetails(controller_name="Example", website=website)
    monkeypatch.setattr(ControllerDetails, "current", classmethod(lambda cls: details))
    notice = privacy_notice("en", details=details)
    (controller,) = [s for s in notice.sections if s.key == "controller"]
    assert [href for _, value, href in controller.items if value == website] == [""]
    page = Client().get("/privacy/", {"lang": "en"}).content.decode()
    assert 'href="javascript' not in page.lower()
    assert 'href="data:' not in page and 'href="ftp:' not in page and 'href="//' not in page


def test_the_privacy_page_links_an_http_website():
    ControllerDetails.objects.create(controller_name="Example", website="https://www.example.org/")
    page = Client().get("/privacy/", {"lang": "en"}).content.decode()
    assert '<a href="https://www.example.org/">https://www.example.org/</a>' in page


def test_only_absolute_http_addresses_count_as_links():
    assert is_http_url("https://www.example.org/x?y=1")
    assert not any(is_http_url(u) for u in [*UNSAFE, "https://", "http:/x", ""])
