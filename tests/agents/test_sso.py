"""Single sign-on against a real OpenID Connect provider on 127.0.0.1 (tests/agents/
oidc_provider.py): the code flow signs in existing staff accounts only, refuses tokens with the
wrong issuer or nonce, and changes roles only where a role map is configured (audited)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from agents.models import AccessGrant, SignInIdentity
from agents.roles import AGENT, DIRECTOR, TEAM_LEAD
from chat.models import AuditEvent
from tests.agents.oidc_provider import Provider
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(settings):
    with Provider() as provider:
        for name, value in provider.settings().items():
            setattr(settings, name, value)
        settings.AUTHENTICATION_BACKENDS = [
            *settings.AUTHENTICATION_BACKENDS,
            "agents.oidc.StaffOIDCBackend",
        ]
        settings.CHAT_REQUIRE_2FA = "roles"
        yield provider


def sign_on(client: Client, next_url: str = ""):
    """The browser's round trip: to the provider, signed in there, back with a code."""
    start = client.get("/console/sso/start/" + (f"?next={next_url}" if next_url else ""))
    assert start.status_code == 302
    at_provider = requests.get(start["Location"], allow_redirects=False, timeout=10)
    assert at_provider.status_code == 302, at_provider.text
    back = urlsplit(at_provider.headers["Location"])
    return client.get(f"{back.path}?{back.query}")


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def groups(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def test_an_agent_signs_on_by_e_mail_and_then_by_subject(alice, provider):
    alice.email = "alice@example.org"
    alice.save(update_fields=["email"])
    provider.person = {"sub": "idp-123", "email": "Alice@example.org", "email_verified": True}
    client = Client()
    response = sign_on(client)
    assert response["Location"] == "/console/"
    assert signed_in(client) and client.session["_auth_user_id"] == str(alice.pk)
    assert SignInIdentity.objects.get(user=alice).subject == "idp-123"
    # Later the provider reports another address: the subject still finds the account.
    provider.person = {"sub": "idp-123", "email": "a.agent@example.org"}
    again = Client()
    sign_on(again)
    assert again.session["_auth_user_id"] == str(alice.pk)


def test_the_identity_provider_never_grants_roles(alice, provider):
    alice.email = "alice@example.org"
    alice.save(update_fields=["email"])
    before = groups(alice)
    provider.person = {
        "sub": "idp-1",
        "email": "alice@example.org",
        "groups": ["Service director"],
        "roles": ["Service director", "admin"],
    }
    client = Client()
    sign_on(client)
    assert signed_in(client)
    alice.refresh_from_db()
    assert groups(alice) == before and not alice.is_staff and not alice.is_superuser


@pytest.mark.parametrize(
    "wrong",
    [
        {"iss": "https://evil.example"},
        {"nonce": "not-the-nonce"},
        {"aud": "another-client"},
        {"exp": 1},
    ],
    ids=["issuer", "nonce", "audience", "expired"],
)
def test_a_token_with_a_wrong_claim_is_refused(alice, provider, wrong):
    alice.email = "alice@example.org"
    alice.save(update_fields=["email"])
    provider.person = {"sub": "idp-123", "email": "alice@example.org"}
    provider.token_overrides = wrong
    client = Client()
    response = sign_on(client)
    assert response["Location"] == "/console/login/?sso=failed"
    assert not signed_in(client)
    assert not SignInIdentity.objects.exists()


def test_an_unknown_account_is_refused_and_not_created(alice, provider):
    provider.person = {"sub": "idp-999", "email": "stranger@example.org"}
    count = get_user_model().objects.count()
    client = Client()
    response = sign_on(client)
    assert response["Location"] == "/console/login/?sso=failed"
    assert not signed_in(client)
    assert get_user_model().objects.count() == count
    page = client.get(response["Location"]).content.decode()
    assert 'role="alert"' in page


def test_someone_without_a_chat_role_is_refused(charlie, provider):
    charlie.email = "charlie@example.org"
    charlie.save(update_fields=["email"])
    provider.person = {"sub": "idp-c", "email": "charlie@example.org"}
    client = Client()
    sign_on(client)
    assert not signed_in(client)


def test_a_director_signing_on_still_gives_the_second_factor(dana, provider, settings):
    dana.email = "dana@example.org"
    dana.save(update_fields=["email"])
    provider.person = {"sub": "idp-d", "email": "dana@example.org"}
    client = Client()
    assert sign_on(client)["Location"] == "/console/login/setup/"
    assert not signed_in(client)
    # Unless the provider's own multi-factor sign-in is trusted to stand for it.
    settings.OIDC_COUNTS_AS_SECOND_FACTOR = True
    client = Client()
    assert sign_on(client)["Location"] == "/console/"
    assert client.get("/console/access/").status_code == 200
    assert not TOTPDevice.objects.filter(user=dana, confirmed=True).exists()


def test_password_sign_in_can_be_turned_off(alice, provider, settings):
    settings.CHAT_PASSWORD_SIGNIN = False
    page = Client().get("/console/login/").content.decode()
    assert 'id="sso"' in page and 'name="password"' not in page
    client = Client()
    response = client.post("/console/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 403
    assert not signed_in(client)


def test_with_subject_matching_an_unlinked_identity_is_refused(alice, provider, settings):
    settings.OIDC_MATCH = "subject"
    alice.email = "alice@example.org"
    alice.save(update_fields=["email"])
    provider.person = {"sub": "idp-123", "email": "alice@example.org", "email_verified": True}
    client = Client()
    assert sign_on(client)["Location"] == "/console/login/?sso=failed"
    assert not signed_in(client)
    # Once the director has linked the subject, it signs in.
    SignInIdentity.objects.create(user=alice, issuer=provider.issuer, subject="idp-123")
    client = Client()
    assert sign_on(client)["Location"] == "/console/"
    assert client.session["_auth_user_id"] == str(alice.pk)


@pytest.fixture
def role_map(settings):
    settings.OIDC_ROLE_CLAIM = "realm_access.roles"
    settings.OIDC_ROLE_MAP = {"chat-agent": AGENT, "chat-lead": TEAM_LEAD}


def test_a_configured_role_map_grants_and_revokes_the_mapped_roles(alice, provider, role_map):
    alice.email = "alice@example.org"
    alice.save(update_fields=["email"])
    alice.groups.add(*Group.objects.filter(name=DIRECTOR))  # granted by the director, unmapped
    provider.person = {
        "sub": "idp-1",
        "email": "alice@example.org",
        "realm_access": {"roles": ["chat-agent", "chat-lead", "unrelated"]},
    }
    client = Client()
    sign_on(client)
    alice.refresh_from_db()
    assert groups(alice) == {AGENT, TEAM_LEAD, DIRECTOR}
    granted = AuditEvent.objects.get(action=AuditEvent.Action.ROLE_GRANTED, detail__source="sso")
    assert granted.detail == {"role": TEAM_LEAD, "source": "sso"}
    assert granted.actor is None and granted.actor_name == "single sign-on"
    grant = AccessGrant.objects.get(user=alice, group__name=TEAM_LEAD, change="granted")
    assert grant.approved_by == "single sign-on"
    # The provider no longer lists the lead role: the next sign-on takes it away; the director's
    # own grant of a role the map does not name stays.
    provider.person["realm_access"] = {"roles": ["chat-agent"]}
    sign_on(Client())
    alice.refresh_from_db()
    assert groups(alice) == {AGENT, DIRECTOR}
    revoked = AuditEvent.objects.get(action=AuditEvent.Action.ROLE_REVOKED)
    assert revoked.detail == {"role": TEAM_LEAD, "source": "sso"}
    assert not alice.is_staff and not alice.is_superuser


def test_a_mapped_role_lets_an_account_in_and_its_loss_keeps_it_out(roles, provider, role_map):
    # An account the director has made but given no role: the provider's group decides.
    pat = get_user_model().objects.create_user("pat", email="pat@example.org")
    provider.person = {
        "sub": "idp-p",
        "email": "pat@example.org",
        "realm_access": {"roles": ["chat-agent"]},
    }
    client = Client()
    sign_on(client)
    assert signed_in(client)
    provider.person["realm_access"] = {"roles": []}
    client = Client()
    assert sign_on(client)["Location"] == "/console/login/?sso=failed"
    assert not signed_in(client)
    assert groups(pat) == set()


def test_a_role_the_map_makes_needs_its_second_factor_at_once(alice, provider, role_map, settings):
    settings.OIDC_ROLE_MAP = {"chat-director": DIRECTOR}
    alice.email = "alice@example.org"
    alice.save(update_fields=["email"])
    provider.person = {
        "sub": "idp-1",
        "email": "alice@example.org",
        "realm_access": {"roles": ["chat-director"]},
    }
    client = Client()
    assert sign_on(client)["Location"] == "/console/login/setup/"
    assert not signed_in(client)


def test_without_a_role_map_the_claim_is_ignored(alice, provider, settings):
    settings.OIDC_ROLE_CLAIM = ""
    settings.OIDC_ROLE_MAP = {}
    alice.email = "alice@example.org"
    alice.save(update_fields=["email"])
    provider.person = {
        "sub": "idp-1",
        "email": "alice@example.org",
        "realm_access": {"roles": ["chat-lead"]},
        "groups": [DIRECTOR],
    }
    sign_on(Client())
    alice.refresh_from_db()
    assert groups(alice) == {AGENT}
    assert not AuditEvent.objects.filter(detail__source="sso").exists()
