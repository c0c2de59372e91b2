"""The previous release: which commit it is, and its code in a folder of its own.

A rolling deploy runs the current migrations while the previous release still serves
(docs/operations.md, "Rolling deploys: the previous release on the new schema"). The previous
release is taken to be the code just before the latest schema change: the newest commit on the
first-parent history of HEAD (the line of the main branch, where each merge is a release) that
lacks at least one of the migration files of the working tree. With a new migration not yet
committed, that is HEAD itself.

It needs the history: a shallow clone fails here with what to do, it never skips (`.ci/run`
deepens a shallow clone before the suite runs).
"""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MIGRATION_FOLDERS = ("chat/migrations", "agents/migrations", "feedback/migrations")
MIGRATION_FILE = re.compile(r"\d{4}_\w+\.py")


class NoHistory(AssertionError):
    """The checkout cannot say what the previous release was."""


def git(*args: str, root: Path = ROOT) -> str:
    result = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0:
        raise NoHistory(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def migrations_in_tree(root: Path = ROOT) -> set[str]:
    """The migration files of the working tree, as paths from the repository's top."""
    return {
        f"{folder}/{path.name}"
        for folder in MIGRATION_FOLDERS
        for path in (root / folder).iterdir()
        if MIGRATION_FILE.fullmatch(path.name)
    }


def migrations_at(commit: str, root: Path = ROOT) -> set[str]:
    folders = [f"{folder}/" for folder in MIGRATION_FOLDERS]
    listed = git("ls-tree", "--name-only", commit, "--", *folders, root=root)
    return {line for line in listed.splitlines() if MIGRATION_FILE.fullmatch(Path(line).name)}


def previous_release(root: Path = ROOT) -> str:
    """The full hash of the previous release's commit (see the module's docstring)."""
    if not (root / ".git").exists():
        raise NoHistory(f"{root} is not a git checkout: the previous release cannot be found")
    if git("rev-parse", "--is-shallow-repository", root=root).strip() == "true":
        raise NoHistory(
            "the clone is shallow, so the previous release is not in it: run "
            "`git fetch --unshallow` (.ci/run does) or clone without --depth"
        )
    current = migrations_in_tree(root)
    head = git("rev-parse", "HEAD", root=root).strip()
    if not current <= migrations_at(head, root):
        return head
    # Only the commits that changed a migrations folder can be the latest schema change.
    changes = git("rev-list", "--first-parent", "HEAD", "--", *MIGRATION_FOLDERS, root=root)
    for commit in changes.split():
        parents = git("rev-list", "--parents", "-n", "1", commit, root=root).split()[1:]
        if not parents:
            break
        if not current <= migrations_at(parents[0], root):
            return parents[0]
    raise NoHistory("no commit in the history lacks a current migration: nothing to compare")


def materialise(commit: str, folder: Path, root: Path = ROOT) -> Path:
    """The tracked files of `commit` (as `git archive` gives them) unpacked into `folder`."""
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", "--format=tar", commit],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout
    folder.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder
