"""Golden cases: cases/valid/* validate clean; cases/invalid/* give exactly their expected.txt.

Each case is copied to a temporary directory first, where an optional `setup.txt` creates what
git does not carry well (`symlink <link> <target>`, `fifo <path>`), one per line. Diagnostics
name files relative to the case directory, because validation runs from inside it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from osbundle.cli.render import render_report
from osbundle.profile.validate import check_paths

CASES = Path(__file__).parent / "cases"
SETUP = "setup.txt"
EXPECTED = "expected.txt"


def case_dirs(kind: str) -> list[Path]:
    return sorted(p for p in (CASES / kind).iterdir() if p.is_dir())


def prepare(case: Path, tmp_path: Path) -> Path:
    work = tmp_path / case.name
    shutil.copytree(case, work, symlinks=True, ignore=shutil.ignore_patterns(SETUP, EXPECTED))
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
