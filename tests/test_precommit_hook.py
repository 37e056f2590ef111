"""The hook of .pre-commit-hooks.yaml, run by pre-commit itself against a scratch repository:
a staged change to any file a profile depends on gets that profile, and every profile that
extends it, validated."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factory import PROFILES, REPO

pytestmark = pytest.mark.slow  # pre-commit installs osbundle into a virtualenv of its own


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A git repository holding the example profiles, a second child of the RHEL base, and an
    unrelated file, all committed: what is staged next is what the hook sees."""
    repo = tmp_path / "repo"
    shutil.copytree(PROFILES, repo / "profiles")
    shutil.copytree(PROFILES / "rhel-9", repo / "profiles" / "rhel-9b")
    (repo / "README.md").write_text("profiles\n")
    git(tmp_path, "init", "-q", str(repo))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "profiles")
    return repo


def run_hook(repo: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """`pre-commit try-repo <this repository> osbundle-validate`: the hook as this working tree
    defines it, on the staged files."""
    env = dict(os.environ, PRE_COMMIT_HOME=str(home), PRE_COMMIT_COLOR="never")
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(REPO), "osbundle-validate"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )


def test_a_macro_typo_staged_in_an_unattend_file_fails_the_hook(
    scratch: Path, pre_commit_home: Path
) -> None:
    ks = scratch / "profiles" / "rhel-9" / "unattend" / "ks.cfg"
    ks.write_text(ks.read_text() + "# #predefined.globalSettings.ipAssignmnet#\n")
    git(scratch, "add", str(ks))
    done = run_hook(scratch, pre_commit_home)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Skipped" not in done.stdout
    assert "profiles/rhel-9/unattend/ks.cfg:" in done.stdout
    assert "unknown macro #predefined.globalSettings.ipAssignmnet#" in done.stdout
    assert "1 error in 1 of 1 profile" in done.stdout


def test_a_staged_base_change_reports_every_extending_profile_s_errors(
    scratch: Path, pre_commit_home: Path
) -> None:
    settings = scratch / "profiles" / "base" / "rhel-base" / "settings" / "common.json"
    settings.write_text(settings.read_text().replace('"dns"', '"nameservers"'))
    git(scratch, "add", str(settings))
    done = run_hook(scratch, pre_commit_home)
    assert done.returncode == 1, done.stdout + done.stderr
    for child in ("rhel-9", "rhel-9b"):
        assert f"profiles/{child}/unattend/ks.cfg:" in done.stdout
    assert "#common.dns.server0#" in done.stdout
    # The base itself uses no dns macro: valid; its two children: five uses each.
    assert "10 errors in 2 of 3 profiles" in done.stdout


def test_a_change_no_profile_depends_on_passes(scratch: Path, pre_commit_home: Path) -> None:
    (scratch / "README.md").write_text("profiles, explained\n")
    git(scratch, "add", "README.md")
    done = run_hook(scratch, pre_commit_home)
    assert done.returncode == 0, done.stdout + done.stderr
