"""Migrations a rolling deploy can run ahead of the code (docs/deployment.md, "Rolling deploys").

During a rolling deploy the migrations run first, while the previous release still serves: its
SQL names only the tables and columns that existed before them. So after every migration of this
project, each table and column of the schema before it must still exist under the same name and
type and must not have become NOT NULL, and a column it adds must be nullable or have a database
default (`db_default`; Django's `default` is filled in by the new code only, the previous
release's INSERTs would leave the column out and fail).

This is checked on Django's own migration states (what `migrate` would create), not on one
database, for every migration after the baseline below, so that a release cannot ship a drop, a
rename or a NOT NULL column in the same release as the code that stops or starts using it.
Removing something is the "contract" half: it ships a release after the code stopped using it,
in a migration marked `rolling_deploy = "contract"`, which this test then lets through.

This is the rule; `tests/deploy/test_previous_release.py` runs the previous release's code
itself on the current schema (a chat, a rolling deploy and back, its exports, erasure and purge).
Both are needed: that test exercises the SQL its scenarios reach, for the latest schema change
only, while this comparison covers every column of every table for every migration, whatever
the code does with it.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations import operations
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState
from django.db.models import NOT_PROVIDED, BooleanField, CharField

PROJECT_APPS = ("chat", "agents", "feedback")

# Released before the rule existed; the schema later migrations are compared against starts
# here. Do not add to this set: a new migration either passes or is a marked contract.
BASELINE = {
    ("chat", "0001_initial"),
    ("chat", "0002_conversation_foreign_keys_restrict"),
    ("chat", "0003_controller_website_http"),
    ("agents", "0001_initial"),
    ("feedback", "0001_initial"),
    ("feedback", "0002_daily_histograms_and_folded_days"),
    ("feedback", "0003_conversation_foreign_key_restrict"),
}


def schema(state: ProjectState) -> dict[str, dict[str, tuple[str | None, bool, bool]]]:
    """table -> column -> (database type, nullable, has a database default)."""
    tables: dict[str, dict[str, tuple[str | None, bool, bool]]] = {}
    for model in state.apps.get_models(include_auto_created=True):
        if not model._meta.managed or model._meta.proxy:
            continue
        tables[model._meta.db_table] = {
            field.column: (
                field.db_type(connection),
                field.null,
                field.db_default is not NOT_PROVIDED,
            )
            for field in model._meta.local_concrete_fields
        }
    return tables


def incompatibilities(before: ProjectState, after: ProjectState) -> list[str]:
    """What the previous release's SQL, written against `before`, would trip over in `after`."""
    old, new = schema(before), schema(after)
    problems = []
    for table, columns in old.items():
        if table not in new:
            problems.append(f"table {table} is gone (dropped or renamed)")
            continue
        for column, (db_type, null, _default) in columns.items():
            if column not in new[table]:
                problems.append(f"column {table}.{column} is gone (dropped or renamed)")
                continue
            new_type, new_null, _ = new[table][column]
            if new_type != db_type:
                problems.append(f"column {table}.{column} changes type {db_type} -> {new_type}")
            if null and not new_null:
                problems.append(f"column {table}.{column} becomes NOT NULL")
        for column, (_type, null, db_default) in new[table].items():
            if column not in columns and not null and not db_default:
                problems.append(
                    f"new column {table}.{column} is NOT NULL without a db_default: the "
                    "previous release's INSERTs leave it out"
                )
    return problems


@pytest.fixture(scope="module")
def loader() -> MigrationLoader:
    return MigrationLoader(None, ignore_no_migrations=True)


def test_every_migration_after_the_baseline_keeps_the_previous_release_working(loader):
    checked = []
    for key in loader.graph.nodes:
        if key[0] not in PROJECT_APPS or key in BASELINE:
            continue
        migration = loader.graph.nodes[key]
        if getattr(migration, "rolling_deploy", "expand") == "contract":
            continue
        raw = [
            op
            for op in migration.operations
            if isinstance(op, operations.RunSQL | operations.SeparateDatabaseAndState)
        ]
        assert not raw or getattr(migration, "rolling_deploy", None) == "expand", (
            f"{key}: raw SQL is invisible to this check; say rolling_deploy = 'expand' on the "
            "Migration once you have checked it by hand"
        )
        before = loader.project_state(key, at_end=False)
        after = loader.project_state(key, at_end=True)
        assert incompatibilities(before, after) == [], key
        checked.append(key)
    # Nothing to check yet is fine; the baseline is what is released.
    assert set(loader.graph.nodes) >= BASELINE


def _changed(loader, *ops) -> list[str]:
    before = loader.project_state()
    after = before.clone()
    for op in ops:
        op.state_forwards("chat", after)
    return incompatibilities(before, after)


def test_a_drop_a_rename_or_a_not_null_column_would_be_caught(loader):
    assert _changed(loader, operations.RemoveField("message", "text")) == [
        "column chat_message.text is gone (dropped or renamed)"
    ]
    assert "column chat_message.text is gone (dropped or renamed)" in _changed(
        loader, operations.RenameField("message", "text", "body")
    )
    [problem] = _changed(
        loader, operations.AddField("message", "flag", BooleanField(default=False))
    )
    assert problem.startswith("new column chat_message.flag is NOT NULL without a db_default")
    [problem] = _changed(loader, operations.AlterField("message", "text", CharField(max_length=10)))
    assert "changes type" in problem


def test_additions_the_previous_release_can_ignore_pass(loader):
    assert (
        _changed(
            loader,
            operations.AddField("message", "flag", BooleanField(default=False, db_default=False)),
            operations.AddField("message", "note", CharField(max_length=20, null=True)),
        )
        == []
    )
