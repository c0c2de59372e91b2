"""docs/privacy.md lists every column of every table that holds the register or staff data, with
the promise that allows it and the period that deletes it; a new field must be listed first."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.apps import apps

INVENTORY = Path(__file__).resolve().parent.parent / "docs" / "privacy.md"
# Every concrete model of these apps is in the inventory ...
OWN_APPS = ("chat", "agents", "feedback")
# ... and these Django and library tables, which hold staff data.
OTHER_MODELS = (
    "auth.User",
    "sessions.Session",
    "admin.LogEntry",
    "axes.AccessAttempt",
    "axes.AccessAttemptExpiration",
    "axes.AccessLog",
    "axes.AccessFailureLog",
    "otp_totp.TOTPDevice",
    "otp_static.StaticDevice",
    "otp_static.StaticToken",
)
HEADING = re.compile(r"^### `(?P<label>[\w.]+)` \((?P<table>\w+)\)$")
ROW = re.compile(r"^\| `(?P<column>\w+)` \|(?P<rest>.*)\|$")


def inventory() -> dict[str, dict]:
    """{model label: {"table": db table, "columns": {name: [holds, allowed by, deleted]}}}."""
    tables: dict[str, dict] = {}
    current = None
    for line in INVENTORY.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            match = HEADING.match(line)
            current = None
            if match:
                current = tables.setdefault(
                    match["label"], {"table": match["table"], "columns": {}}
                )
            continue
        row = ROW.match(line)
        if current is not None and row:
            cells = [cell.strip() for cell in row["rest"].split("|")]
            current["columns"][row["column"]] = cells
    return tables


def covered_models() -> list:
    models = [
        model
        for app in OWN_APPS
        for model in apps.get_app_config(app).get_models()
        if not model._meta.proxy
    ]
    return models + [apps.get_model(label) for label in OTHER_MODELS]


def fields_of(model) -> set[str]:
    """Its columns and its many-to-many tables, by field name."""
    return {f.name for f in (*model._meta.concrete_fields, *model._meta.many_to_many)}


def _case(model) -> str:
    return model._meta.label


@pytest.mark.parametrize("model", covered_models(), ids=_case)
def test_every_field_is_in_the_inventory_with_its_promise_and_its_period(model):
    entry = inventory().get(model._meta.label)
    assert entry, f"docs/privacy.md has no table for {model._meta.label}"
    assert entry["table"] == model._meta.db_table
    listed = set(entry["columns"])
    missing = fields_of(model) - listed
    assert not missing, f"{model._meta.label}: not in the inventory: {sorted(missing)}"
    gone = listed - fields_of(model)
    assert not gone, f"{model._meta.label}: listed but not in the model: {sorted(gone)}"
    for column, cells in entry["columns"].items():
        assert len(cells) == 3 and all(cells), f"{model._meta.label}.{column}: {cells}"


def test_the_inventory_lists_no_table_that_does_not_exist():
    labels = {model._meta.label for model in covered_models()}
    assert set(inventory()) == labels


def test_a_new_field_fails_the_inventory(monkeypatch):
    from django.db import models

    from chat.models import Message

    field = models.CharField(max_length=10, blank=True)
    field.set_attributes_from_name("visitor_mood")
    monkeypatch.setattr(Message._meta, "concrete_fields", (*Message._meta.concrete_fields, field))
    with pytest.raises(AssertionError, match="visitor_mood"):
        test_every_field_is_in_the_inventory_with_its_promise_and_its_period(Message)
