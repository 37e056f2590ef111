"""Golden cases: cases/invalid/* give exactly their expected.txt; cases/valid/* validate clean,
plan exactly their expected/plan.json (members, sources, sizes, modes, fingerprint) and render
exactly the files under expected/rendered/ (by member path); every other member is its source.

Each case is copied to a temporary directory first, where an optional `setup.txt` creates what
git does not carry well (`symlink <link> <target>`, `fifo <path>`), one per line. Diagnostics
name files relative to the case directory, because validation runs from inside it. A new valid
case's expected/ is written from a build and read line by line before it is committed: it is
what the build must do, not what it happens to do.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from osbundle.cli.render import render_report
from osbundle.model import BuildRequest
from osbundle.pipeline import build_bundle
from osbundle.plan import plan_bundle
from osbundle.profile.validate import check_paths

CASES = Path(__file__).parent / "cases"
SETUP = "setup.txt"
EXPECTED = "expected.txt"
EXPECTED_DIR = "expected"
EPOCH = 1700000000


def case_dirs(kind: str) -> list[Path]:
    return sorted(p for p in (CASES / kind).iterdir() if p.is_dir())


def prepare(case: Path, tmp_path: Path) -> Path:
    work = tmp_path / case.name
    shutil.copytree(
        case, work, symlinks=True, ignore=shutil.ignore_patterns(SETUP, EXPECTED, EXPECTED_DIR)
    )
    setup = case / SETUP
    if setup.exists():
        for line in setup.read_text(encoding="utf-8").splitlines():
            action, *args = line.split()
            if action == "symlink":
                os.symlink(args[1], work / args[0])
            elif action == "fifo":
                os.mkfifo(work / args[0])
            else:
                raise AssertionError(f"{setup}: unknown setup action {action!r}")
    return work


def validate_case(case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    work = prepare(case, tmp_path)
    monkeypatch.chdir(work)
    return render_report(check_paths([Path("profile.yaml")]), "text").splitlines()


@pytest.mark.parametrize("case", case_dirs("valid"), ids=lambda p: p.name)
def test_valid_case(case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert validate_case(case, tmp_path, monkeypatch) == ["validated 1 profile: all valid"]


@pytest.mark.parametrize("case", case_dirs("valid"), ids=lambda p: p.name)
def test_valid_case_plans_what_it_expects(case: Path, tmp_path: Path) -> None:
    plan = plan_bundle(prepare(case, tmp_path))
    expected = json.loads((case / EXPECTED_DIR / "plan.json").read_text(encoding="utf-8"))
    assert plan.to_json() == expected


@pytest.mark.parametrize("case", case_dirs("valid"), ids=lambda p: p.name)
def test_valid_case_builds_what_it_expects(case: Path, tmp_path: Path) -> None:
    work = prepare(case, tmp_path)
    result = build_bundle(BuildRequest(work, tmp_path / "out", source_date_epoch=EPOCH))
    expected = json.loads((case / EXPECTED_DIR / "plan.json").read_text(encoding="utf-8"))
    rendered_dir = case / EXPECTED_DIR / "rendered"
    rendered = {
        p.relative_to(rendered_dir).as_posix() for p in rendered_dir.rglob("*") if p.is_file()
    }
    with tarfile.open(result.path) as tar:
        for member in expected["members"]:
            data = tar.extractfile(member["path"]).read()  # type: ignore[union-attr]
            inside = member["path"].split("/", 1)[1]
            if member["rendered"]:
                assert data == (rendered_dir / inside).read_bytes(), inside
                rendered.discard(inside)
            else:
                assert data == (work / member["source"]).read_bytes(), inside
    assert rendered == set(), "expected/rendered/ holds files the build does not render"


@pytest.mark.parametrize("case", case_dirs("invalid"), ids=lambda p: p.name)
def test_invalid_case(case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = validate_case(case, tmp_path, monkeypatch)
    expected = (case / EXPECTED).read_text(encoding="utf-8").splitlines()
    assert lines[:-1] == expected
    errors = len(expected)
    noun = "error" if errors == 1 else "errors"
    assert lines[-1] == f"{errors} {noun} in 1 of 1 profile"


def test_there_are_enough_cases() -> None:
    assert len(case_dirs("valid")) >= 4
    assert len(case_dirs("invalid")) >= 12
    for case in case_dirs("invalid"):
        assert (case / EXPECTED).is_file(), case
    for case in case_dirs("valid"):
        assert (case / EXPECTED_DIR / "plan.json").is_file(), case
        assert any((case / EXPECTED_DIR / "rendered").rglob("*")), case
