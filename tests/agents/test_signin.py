"""The one sign-in of the console and admin: who is asked for a second factor, enrolment,
recovery codes, lockout, a director's reset, signing out everywhere."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from agents import signin
from agents.roles import DIRECTOR
from agents.services import guidance_acknowledge
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


def test_the_access_review_shows_how_each_account_signs_in(alice, dana):
    enrolled(dana)
    client = Client()
    client.force_login(dana)
    csv = client.get("/console/access/access-review.csv").content.decode()
    lines = {line.split(",")[0]: line for line in csv.splitlines()[1:]}
    assert ",password;2fa," in lines["dana"]
    assert ",password," in lines["alice"]


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
