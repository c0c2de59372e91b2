"""The one sign-in of the console and admin: who is asked for a second factor, enrolment,
recovery codes, lockout, a director's reset, signing out everywhere."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from agents import signin
from agents.models import SignInIdentity
from agents.roles import AGENT, DIRECTOR, TEAM_LEAD
from agents.services import guidance_acknowledge, language_set
from chat.models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def totp_code(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The code the person's authenticator app shows now (or that many 30 s steps later)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def enrolled(user) -> tuple[TOTPDevice, list[str]]:
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return device, signin.recovery_codes_issue(user=user)


def password_step(username: str, next_url: str = "") -> tuple[Client, object]:
    client = Client()
    data = {"username": username, "password": PASSWORD}
    if next_url:
        data["next"] = next_url
    return client, client.post("/console/login/", data)


def signed_in_with_code(user) -> Client:
    """A session that passed both factors, as the person would sign in."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or enrolled(user)[0]
    client, _ = password_step(user.get_username())
    client.post("/console/login/code/", {"code": totp_code(device)})
    assert signed_in(client)
    return client


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def roles_rule(settings):
    settings.CHAT_REQUIRE_2FA = "roles"


def test_a_director_must_set_up_the_second_factor_before_anything_opens(dana, roles_rule, settings):
    # The device's own throttle would make the retry below wait a second.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    client, response = password_step("dana")
    assert response["Location"] == "/console/login/setup/"
    assert not signed_in(client)
    assert client.get("/console/access/").status_code == 302
    page = client.get("/console/login/setup/").content.decode()
    assert "<svg" in page and "otpauth" not in page  # the QR is drawn here, no link out
    device = TOTPDevice.objects.get(user=dana, confirmed=False)
    assert client.post("/console/login/setup/", {"code": "000000"}).status_code == 200
    assert not signed_in(client)
    response = client.post("/console/login/setup/", {"code": totp_code(device)})
    codes = response.context["codes"]
    assert len(codes) == 10 and all(c in response.content.decode() for c in codes)
    assert signed_in(client)
    assert client.get("/console/access/").status_code == 200
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.SECOND_FACTOR_ENROLLED, actor=dana
    ).exists()


def test_an_agent_signs_in_with_the_password_alone_under_the_roles_rule(alice, roles_rule):
    client, response = password_step("alice")
    assert response["Location"] == "/console/"
    assert signed_in(client)


def test_the_director_may_require_it_of_agents_too(alice, settings):
    settings.CHAT_REQUIRE_2FA = "all"
    client, response = password_step("alice")
    assert response["Location"] == "/console/login/setup/"
    assert not signed_in(client)


def test_nobody_is_asked_when_it_is_off_unless_they_set_one_up(alice, dana, settings):
    settings.CHAT_REQUIRE_2FA = "off"
    client, response = password_step("dana")
    assert signed_in(client)
    device, _ = enrolled(alice)
    client, response = password_step("alice")
    assert response["Location"] == "/console/login/code/"
    assert not signed_in(client)
    client.post("/console/login/code/", {"code": totp_code(device)})
    assert signed_in(client)


def test_a_recovery_code_signs_in_once_and_never_twice(alice, dana, roles_rule):
    _, codes = enrolled(dana)
    client, _ = password_step("dana")
    response = client.post("/console/login/code/", {"code": codes[0].upper()})
    assert response.status_code == 302
    assert signed_in(client)
    assert StaticToken.objects.filter(device__user=dana).count() == 9
    assert AuditEvent.objects.filter(action=AuditEvent.Action.RECOVERY_CODE_USED).count() == 1
    again, _ = password_step("dana")
    response = again.post("/console/login/code/", {"code": codes[0]})
    assert response.status_code == 200 and response.context["wrong"]
    assert not signed_in(again)


def test_wrong_codes_lock_the_account_like_wrong_passwords(dana, roles_rule, settings):
    device, _ = enrolled(dana)
    client, _ = password_step("dana")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post("/console/login/code/", {"code": "123456"}).status_code == 200
    response = client.post("/console/login/code/", {"code": "123456"})
    assert response.status_code == 429
    assert response.context["minutes"] == 15
    # Even the right password and the right code now wait out the lockout.
    client, response = password_step("dana")
    assert response.status_code == 429
    assert client.post("/console/login/code/", {"code": totp_code(device)}).status_code == 302
    assert not signed_in(client)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.LOGIN_FAILED).count() >= 5


def test_wrong_recovery_codes_count_towards_the_lockout_too(dana, roles_rule, settings):
    _, codes = enrolled(dana)
    client, _ = password_step("dana")
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        response = client.post("/console/login/code/", {"code": f"wrongco{attempt}"})
    assert response.status_code == 429
    assert "15" in response.content.decode()
    # The right recovery code now waits too, and stays unused.
    assert client.post("/console/login/code/", {"code": codes[0]}).status_code == 302
    assert not signed_in(client)
    assert StaticToken.objects.filter(device__user=dana, token=codes[0]).exists()


def test_wrong_passwords_on_the_way_to_admin_lock_it_like_the_console(dana, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            "/console/login/", {"username": "dana", "password": "guess-guess-1", "next": "/admin/"}
        )
    client, response = password_step("dana", next_url="/admin/")
    assert response.status_code == 429
    assert "agents/locked_out.html" in [t.name for t in response.templates]
    assert client.get("/admin/").status_code == 302


def test_a_pending_sign_in_expires(dana, roles_rule):
    device, _ = enrolled(dana)
    client, _ = password_step("dana")
    session = client.session
    session[signin.PENDING_KEY]["at"] -= signin.PENDING_SECONDS + 1
    session.save()
    response = client.post("/console/login/code/", {"code": totp_code(device)})
    assert response["Location"] == "/console/login/?expired=1"
    assert not signed_in(client)


def test_a_director_resets_a_lost_device_and_it_is_audited(alice, dana, settings):
    settings.CHAT_REQUIRE_2FA = "all"
    enrolled(alice)
    lost = signed_in_with_code(alice)
    director = signed_in_with_code(dana)
    response = director.post(f"/console/sign-in/{alice.pk}/reset/")
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=alice).exists()
    assert not StaticToken.objects.filter(device__user=alice).exists()
    event = AuditEvent.objects.get(action=AuditEvent.Action.SECOND_FACTOR_RESET)
    assert event.actor == dana and event.object_ref == "user:alice"
    assert "_auth_user_id" not in lost.session  # the old sessions ended
    _, response = password_step("alice")
    assert response["Location"] == "/console/login/setup/"


def test_only_a_director_may_reset(alice, bob):
    enrolled(bob)
    client = Client()
    client.force_login(alice)
    assert client.post(f"/console/sign-in/{bob.pk}/reset/").status_code == 403
    assert TOTPDevice.objects.filter(user=bob).exists()


def test_admin_signs_in_through_the_same_page(charlie, roles_rule):
    response = Client().get("/admin/")
    assert response["Location"].startswith("/admin/login/")
    response = Client().get(response["Location"])
    assert response["Location"] == "/console/login/?next=%2Fadmin%2F"
    # Charlie administers accounts but reads no chats: in only on the way to admin, and an
    # admin user needs the second factor under the roles rule.
    client, response = password_step("charlie")
    assert response.status_code == 200 and not signed_in(client)
    client, response = password_step("charlie", next_url="/admin/")
    assert response["Location"] == "/console/login/setup/"
    client.get("/console/login/setup/")
    device = TOTPDevice.objects.get(user=charlie)
    client.post("/console/login/setup/", {"code": totp_code(device)})
    assert client.get("/admin/").status_code == 200


def test_a_role_that_needs_the_second_factor_signs_out_a_session_without_one(alice, roles_rule):
    guidance_acknowledge(user=alice, actor_ip=None)
    client, _ = password_step("alice")
    assert client.get("/console/").status_code == 200
    alice.groups.add(Group.objects.get(name=DIRECTOR))
    response = client.get("/console/")
    assert response["Location"].startswith("/console/login/")
    assert not signed_in(client)


@pytest.mark.parametrize("cause", ["role", "rule"])
def test_the_console_then_leads_to_setting_up_or_giving_the_second_factor(alice, settings, cause):
    settings.CHAT_REQUIRE_2FA = "roles"
    guidance_acknowledge(user=alice, actor_ip=None)
    client, _ = password_step("alice")
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert client.get("/console/").status_code == 200
    if cause == "role":
        alice.groups.add(Group.objects.get(name=DIRECTOR))
    else:
        settings.CHAT_REQUIRE_2FA = "all"
    # Where the console goes when its socket closes: the sign-in page, which says why.
    response = client.get("/console/login/?next=/console/")
    assert response["Location"] == "/console/login/?next=/console/"
    assert not signed_in(client)
    page = client.get(response["Location"]).content.decode()
    assert "now needs a second factor" in page
    # Said once, not at every later visit of the page.
    assert "now needs a second factor" not in client.get("/console/login/").content.decode()
    # The password again, then straight on to setting up the authenticator ...
    response = client.post(
        "/console/login/", {"username": "alice", "password": PASSWORD, "next": "/console/"}
    )
    assert response["Location"] == "/console/login/setup/"
    client.get("/console/login/setup/")
    device = TOTPDevice.objects.get(user=alice, confirmed=False)
    client.post("/console/login/setup/", {"code": totp_code(device)})
    assert client.get("/console/").status_code == 200
    # ... or, once set up, to giving a code from it.
    _, response = password_step("alice")
    assert response["Location"] == "/console/login/code/"


@pytest.mark.parametrize(
    ("role", "needs"),
    [(AGENT, False), (TEAM_LEAD, True), (DIRECTOR, True)],
)
def test_who_needs_the_second_factor_under_the_roles_rule(roles_rule, role, needs):
    user = get_user_model().objects.create_user("pat", password=PASSWORD)
    user.groups.add(Group.objects.get(name=role))
    assert signin.second_factor_required(user) is needs
    _, response = password_step("pat")
    assert (response["Location"] == "/console/login/setup/") is needs


def test_whoever_may_export_and_erase_needs_it_whatever_the_group(alice, roles_rule):
    assert not signin.second_factor_required(alice)
    alice.user_permissions.add(
        Permission.objects.get(codename="handle_data_requests", content_type__app_label="chat")
    )
    assert signin.second_factor_required(alice)


def test_new_recovery_codes_replace_the_old_ones(dana, roles_rule):
    device, old = enrolled(dana)
    client, _ = password_step("dana")
    client.post("/console/login/code/", {"code": totp_code(device)})
    page = client.get("/console/sign-in/").content.decode()
    assert "10" in page
    new = client.post("/console/sign-in/recovery-codes/").context["codes"]
    assert set(new).isdisjoint(old)
    assert set(StaticToken.objects.values_list("token", flat=True)) == set(new)


def test_signing_out_everywhere_ends_every_session_of_the_account(alice, bob):
    guidance_acknowledge(user=alice, actor_ip=None)
    here, elsewhere, other = Client(), Client(), Client()
    here.force_login(alice)
    elsewhere.force_login(alice)
    other.force_login(bob)
    assert here.post("/console/sign-in/sign-out-everywhere/")["Location"] == "/console/login/"
    assert here.get("/console/").status_code == 302
    assert elsewhere.get("/console/").status_code == 302
    assert Session.objects.count() == 1  # bob's
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SIGNED_OUT_EVERYWHERE).exists()


def test_the_access_review_shows_how_each_account_signs_in(alice, bob, dana, settings):
    enrolled(dana)
    SignInIdentity.objects.create(user=bob, issuer="https://idp.example", subject="b-1")
    client = Client()
    client.force_login(dana)

    def methods() -> dict[str, str]:
        csv = client.get("/console/access/access-review.csv").content.decode()
        return {line.split(",")[0]: line for line in csv.splitlines()[1:]}

    lines = methods()
    assert ",password;2fa," in lines["dana"]
    assert ",password," in lines["alice"]
    assert ",password;sso," in lines["bob"]
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = client.get("/console/access/").content.decode()
    assert "Password, Single sign-on" in page and "Password, second factor" in page
    # With password sign-in turned off, a password is no way in, and the review says so.
    settings.CHAT_PASSWORD_SIGNIN = False
    lines = methods()
    assert ",2fa," in lines["dana"]
    assert ",sso," in lines["bob"]
    assert ",," in lines["alice"]
    assert "cannot sign in" in client.get("/console/access/").content.decode()


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("fi", ["Ota toinen tunnistautumistekijä käyttöön", "Sovelluksen koodi"]),
        ("sv", ["Ta i bruk andra faktorn", "Kod från appen"]),
        ("en", ["Set up the second factor", "Code from the app"]),
    ],
)
def test_the_sign_in_pages_speak_finnish_swedish_and_english(dana, roles_rule, language, words):
    client = Client(headers={"accept-language": language})
    client.post("/console/login/", {"username": "dana", "password": PASSWORD})
    page = client.get("/console/login/setup/").content.decode()
    assert all(word in page for word in words)
    assert f'lang="{language}"' in page


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("fi", "Pidä toinen tunnistautumistekijäsi tallessa"),
        ("sv", "Håll din andra faktor säker"),
        ("en", "Keep your second factor safe"),
    ],
)
def test_the_guidance_says_to_keep_the_second_factor_safe(alice, language, words):
    language_set(user=alice, language=language)
    client = Client()
    client.force_login(alice)
    assert words in client.get("/console/guidance/").content.decode()


# --- sessions ------------------------------------------------------------------------------


def test_a_session_ends_after_eight_idle_hours_by_default(alice, settings):
    assert settings.SESSION_COOKIE_AGE == 8 * 3600
    assert settings.SESSION_ABSOLUTE_LIFETIME_SECONDS > settings.SESSION_COOKIE_AGE
    guidance_acknowledge(user=alice, actor_ip=None)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        idle, active = password_step("alice")[0], password_step("alice")[0]
        traveller.shift(timedelta(hours=4))
        assert active.post("/console/keepalive/").status_code == 204
        traveller.shift(timedelta(hours=4, seconds=1))
        # Eight hours and a second without a request: signed out. The one active four hours
        # ago is not (so it is the idle time that ended the first, not the absolute lifetime).
        assert idle.get("/console/")["Location"].startswith("/console/login/")
        assert active.get("/console/").status_code == 200


def test_the_idle_time_is_configurable(alice, settings):
    settings.SESSION_COOKIE_AGE = 30 * 60
    guidance_acknowledge(user=alice, actor_ip=None)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        client, _ = password_step("alice")
        traveller.shift(timedelta(minutes=29))
        assert client.get("/console/").status_code == 200
        traveller.shift(timedelta(minutes=30, seconds=1))
        assert client.get("/console/")["Location"].startswith("/console/login/")


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("fi", ["8 tuntia", "12 tuntia"]),
        ("sv", ["8 timmar", "12 timmar"]),
        ("en", ["8 hours", "12 hours"]),
    ],
)
def test_the_sign_in_page_tells_the_session_times(alice, language, words):
    language_set(user=alice, language=language)
    client = Client()
    client.force_login(alice)
    page = client.get("/console/sign-in/").content.decode()
    assert all(word in page for word in words)


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("fi", "Kirjautuminen on hetken estetty"),
        ("sv", "Inloggningen är spärrad en stund"),
        ("en", "Signing in is blocked for a while"),
    ],
)
def test_the_lockout_page_speaks_finnish_swedish_and_english(alice, settings, language, words):
    client = Client(headers={"accept-language": language})
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/console/login/", {"username": "alice", "password": "guess-guess-1"})
    response = client.post("/console/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    page = response.content.decode()
    assert words in page and f'lang="{language}"' in page
