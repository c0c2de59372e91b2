"""Which commit is the previous release (tests/deploy/previous_release.py), on small repositories
made here: the code just before the latest schema change along the first-parent history, HEAD
when a migration is not committed yet, and a clear failure (never a skip) without history."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from . import previous_release as release


def run(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def commit(root: Path, message: str, files: dict[str, str]) -> str:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    run(root, "add", "-A")
    run(root, "commit", "-q", "-m", message)
    return run(root, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "repo"
    root.mkdir()
    run(root, "init", "-q", "-b", "main")
    c = {}
    c["first"] = commit(
        root,
        "first",
        {
            **{f"{folder}/__init__.py": "" for folder in release.MIGRATION_FOLDERS},
            **{f"{folder}/0001_initial.py": "" for folder in release.MIGRATION_FOLDERS},
            "README": "1",
        },
    )
    c["before"] = commit(root, "code", {"README": "2"})
    c["schema"] = commit(root, "schema", {"chat/migrations/0002_more.py": "", "app.py": "x"})
    c["after"] = commit(root, "code again", {"README": "3"})
    return root, c


def test_the_previous_release_is_the_commit_before_the_latest_schema_change(repo):
    root, c = repo
    assert release.previous_release(root) == c["before"]
    # Editing a migration that the previous release already had changes nothing.
    commit(root, "comment", {"chat/migrations/0002_more.py": "# note\n"})
    assert release.previous_release(root) == c["before"]


def test_a_migration_not_committed_yet_makes_head_the_previous_release(repo):
    root, c = repo
    (root / "agents/migrations/0002_new.py").write_text("")
    assert release.previous_release(root) == c["after"]
    # Files that are not migrations do not count.
    (root / "agents/migrations/0002_new.py").unlink()
    (root / "agents/migrations/notes.txt").write_text("")
    assert release.previous_release(root) == c["before"]


def test_a_merged_branch_s_migration_makes_the_main_line_before_the_merge_the_previous_release(
    repo,
):
    root, _ = repo
    run(root, "checkout", "-q", "-b", "feature")
    commit(root, "feature schema", {"feedback/migrations/0002_feature.py": ""})
    run(root, "checkout", "-q", "main")
    main_before_merge = commit(root, "main goes on", {"README": "4"})
    run(root, "merge", "-q", "--no-ff", "-m", "merge feature", "feature")
    assert release.previous_release(root) == main_before_merge


def test_without_history_it_fails_saying_why(repo, tmp_path):
    root, _ = repo
    shallow = tmp_path / "shallow"
    run(tmp_path, "clone", "-q", "--depth", "1", f"file://{root}", str(shallow))
    with pytest.raises(release.NoHistory, match="shallow"):
        release.previous_release(shallow)
    run(shallow, "fetch", "-q", "--unshallow", "origin")
    assert release.previous_release(shallow) == release.previous_release(root)

    plain = tmp_path / "plain"
    (plain / "chat/migrations").mkdir(parents=True)
    with pytest.raises(release.NoHistory, match="not a git checkout"):
        release.previous_release(plain)


def test_when_every_migration_came_with_the_first_commit_there_is_nothing_to_compare(tmp_path):
    root = tmp_path / "one"
    root.mkdir()
    run(root, "init", "-q", "-b", "main")
    commit(root, "all", {f"{f}/0001_initial.py": "" for f in release.MIGRATION_FOLDERS})
    commit(root, "code", {"README": "1"})
    with pytest.raises(release.NoHistory, match="lacks a current migration"):
        release.previous_release(root)


def test_the_previous_release_s_files_are_unpacked_as_they_were(repo, tmp_path):
    root, c = repo
    folder = release.materialise(c["before"], tmp_path / "old", root)
    assert (folder / "README").read_text() == "2"
    assert (folder / "chat/migrations/0001_initial.py").exists()
    assert not (folder / "chat/migrations/0002_more.py").exists()
    assert not (folder / "app.py").exists()
    assert not (folder / ".git").exists()
