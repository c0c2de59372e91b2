"""The visitor's feedback endpoint: one answer per ended chat, refused clearly otherwise."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from chat.models import Conversation
from feedback.models import Feedback
from feedback.selectors import feedback_for

from .factories import conversation

ORIGIN = "http://testserver"
URL = "/feedback/submit"

pytestmark = pytest.mark.django_db


def post(client, payload, *, origin=ORIGIN, raw=None):
    body = raw if raw is not None else json.dumps(payload)
    headers = {"HTTP_ORIGIN": origin} if origin else {}
    return client.post(URL, data=body, content_type="application/json", **headers)


@pytest.fixture
def ended(alice):
    """A chat alice served that the visitor ended a minute ago."""
    return conversation(
        created_at=timezone.now() - timedelta(minutes=10),
        agent=alice,
        wait=30,
        first_response=40,
        length=540,
    )


def answer(token, **extra):
    return {"token": token, "service_satisfied": True, "channel_satisfied": False, **extra}


def test_it_stores_the_answer_and_the_agent_sees_it(client, ended):
    conv, token = ended
    response = post(client, answer(token, comment="  Quick\x00 and\x07 kind\nthanks  "))
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    seen = feedback_for(conv.pk)
    assert seen["service_satisfied"] is True
    assert seen["channel_satisfied"] is False
    assert seen["comment"] == "Quick and kind\nthanks"
    assert feedback_for(conv.pk + 1000) is None


def test_one_question_may_be_skipped(client, ended):
    conv, token = ended
    response = post(client, {"token": token, "service_satisfied": False})
    assert response.status_code == 200
    fb = Feedback.objects.get(conversation=conv)
    assert (fb.service_satisfied, fb.channel_satisfied, fb.comment) == (False, None, "")


def test_a_second_answer_is_refused_and_the_first_kept(client, ended):
    conv, token = ended
    assert post(client, answer(token)).status_code == 200
    response = post(client, {"token": token, "service_satisfied": False, "comment": "changed"})
    assert response.status_code == 409
    assert response.json()["error"] == "already_answered"
    fb = Feedback.objects.get(conversation=conv)
    assert fb.service_satisfied is True and fb.comment == ""


def test_an_open_chat_cannot_be_rated(client, alice):
    _, token = conversation(created_at=timezone.now(), agent=alice, wait=5)
    response = post(client, answer(token))
    assert response.status_code == 409
    assert response.json()["error"] == "not_closed"
    assert not Feedback.objects.exists()


def test_a_token_that_is_not_the_visitors_is_refused(client, ended):
    _, token = ended
    for bad in ["x" * 43, token[:-1] + ("A" if token[-1] != "A" else "B"), None, 12345, ""]:
        response = post(client, answer(bad))
        assert response.status_code == 403, bad
        assert response.json()["error"] == "bad_token"
    assert not Feedback.objects.exists()


@pytest.mark.parametrize(
    ("comment", "code"),
    [
        ("x" * 501, "too_long"),
        ("<script>alert(1)</script>", "markup"),
        ("nice <img src=x onerror=alert(1)>", "markup"),
        ("click javascript:alert(1)", "markup"),
        ("&lt;b&gt;", "markup"),
        (["not", "text"], "bad_request"),
    ],
)
def test_an_oversize_or_script_comment_is_refused(client, ended, comment, code):
    _, token = ended
    response = post(client, answer(token, comment=comment))
    assert response.status_code == 400
    assert response.json()["error"] == code
    assert response.json()["message"]
    assert not Feedback.objects.exists()


def test_ordinary_punctuation_in_a_comment_is_fine(client, ended):
    conv, token = ended
    text = "Fast <3 and 2 < 3 > 1; 100 % ok & thanks" + "!" * 460
    assert len(text) == 500
    assert post(client, answer(token, comment=text)).status_code == 200
    assert Feedback.objects.get(conversation=conv).comment == text


@pytest.mark.parametrize(
    "value", ["yes", 1, 0, "true", [], {}], ids=["str", "one", "zero", "strtrue", "list", "dict"]
)
def test_answers_must_be_true_false_or_null(client, ended, value):
    _, token = ended
    response = post(client, answer(token, service_satisfied=value))
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert not Feedback.objects.exists()


def test_skipping_everything_stores_nothing(client, ended):
    _, token = ended
    response = post(client, {"token": token, "service_satisfied": None, "comment": "   "})
    assert response.status_code == 400
    assert response.json()["error"] == "empty"
    assert not Feedback.objects.exists()


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"', "\xff\xfe"])
def test_bad_json_is_refused(client, ended, raw):
    response = post(client, None, raw=raw)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_json"
    assert not Feedback.objects.exists()


def test_an_oversize_request_is_refused(client, ended):
    _, token = ended
    response = post(client, answer(token, padding="x" * 5000))
    assert response.status_code == 413
    assert not Feedback.objects.exists()


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "https://testserver", "null", "http://testserver:8080", None]
)
def test_another_origin_is_refused(client, ended, origin):
    _, token = ended
    response = post(client, answer(token), origin=origin)
    assert response.status_code == 403
    assert response.json()["error"] == "bad_origin"
    assert not Feedback.objects.exists()


def test_only_post_is_allowed(client):
    assert client.get(URL, HTTP_ORIGIN=ORIGIN).status_code == 405


def test_feedback_days_after_the_chat_is_refused(client, alice):
    _, token = conversation(
        created_at=timezone.now() - timedelta(days=3), agent=alice, wait=5, length=60
    )
    response = post(client, answer(token))
    assert response.status_code == 409
    assert response.json()["error"] == "expired"
    assert not Feedback.objects.exists()


def test_the_agents_are_told_after_commit(
    client, ended, monkeypatch, django_capture_on_commit_callbacks
):
    conv, token = ended
    sent = []
    monkeypatch.setattr(
        "realtime.events.send_now", lambda group, event: sent.append((group, event))
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, answer(token)).status_code == 200
    assert sent == [
        (f"conv.{conv.pk}", {"type": "feedback.received", "feedback": feedback_for(conv.pk)})
    ]
    assert Conversation.objects.get(pk=conv.pk).status == "closed"


@pytest.mark.django_db
def test_the_agent_sees_the_feedback_on_the_closed_conversation(client, alice):
    from chat.models import Conversation, hash_token
    from feedback.models import Feedback

    conversation = Conversation.objects.create(
        token_hash=hash_token("t" * 43), status="closed", assigned_agent=alice
    )
    Feedback.objects.create(
        conversation=conversation,
        service_satisfied=True,
        channel_satisfied=False,
        comment="<b>quick</b> answer",
    )
    from agents.services import guidance_acknowledge

    guidance_acknowledge(user=alice, actor_ip=None)
    client.force_login(alice)
    body = client.get(f"/console/history/{conversation.reference}/").content.decode()
    assert "Quick feedback" in body or "Pikapalaute" in body
    assert "&lt;b&gt;quick&lt;/b&gt; answer" in body


def test_each_answer_is_stored_as_it_is_given_in_one_row(client, ended):
    conv, token = ended
    assert post(client, {"token": token, "service_satisfied": True}).status_code == 200
    # The visitor could leave here: the first answer is already kept.
    fb = Feedback.objects.get(conversation=conv)
    assert (fb.service_satisfied, fb.channel_satisfied, fb.comment) == (True, None, "")
    assert post(client, {"token": token, "channel_satisfied": False}).status_code == 200
    assert post(client, {"token": token, "comment": "Fast"}).status_code == 200
    fb = Feedback.objects.get(conversation=conv)
    assert (fb.service_satisfied, fb.channel_satisfied, fb.comment) == (True, False, "Fast")
    assert Feedback.objects.count() == 1


def test_an_answer_sent_again_unchanged_is_accepted_and_a_changed_one_refused(client, ended):
    conv, token = ended
    assert post(client, {"token": token, "service_satisfied": False}).status_code == 200
    # A retry after a lost response carries the same answer again.
    retry = {"token": token, "service_satisfied": False, "channel_satisfied": True}
    assert post(client, retry).status_code == 200
    changed = post(client, {"token": token, "channel_satisfied": False, "comment": "x"})
    assert changed.status_code == 409
    assert changed.json()["error"] == "already_answered"
    fb = Feedback.objects.get(conversation=conv)
    assert (fb.service_satisfied, fb.channel_satisfied, fb.comment) == (False, True, "")


def test_a_skipped_answer_does_not_clear_one_given_before(client, ended):
    conv, token = ended
    assert post(client, {"token": token, "service_satisfied": True}).status_code == 200
    response = post(client, {"token": token, "service_satisfied": None, "comment": "ok"})
    assert response.status_code == 200
    fb = Feedback.objects.get(conversation=conv)
    assert (fb.service_satisfied, fb.comment) == (True, "ok")


def test_a_bad_comment_after_an_answer_keeps_the_answer(client, ended):
    conv, token = ended
    assert post(client, {"token": token, "service_satisfied": True}).status_code == 200
    assert post(client, {"token": token, "comment": "<b>x</b>"}).json()["error"] == "markup"
    fb = Feedback.objects.get(conversation=conv)
    assert (fb.service_satisfied, fb.comment) == (True, "")


def test_a_partial_answer_counts_in_the_report(client, ended, dana):
    from agents.services import guidance_acknowledge

    _, token = ended
    assert post(client, {"token": token, "service_satisfied": True}).status_code == 200
    guidance_acknowledge(user=dana, actor_ip=None)
    client.force_login(dana)
    html = client.get("/reports/").content.decode()
    assert '<dd data-metric="feedback_answers">1</dd>' in html
    assert '<dd data-metric="service_yes_share">100 %</dd>' in html
