"""Stop signals at the CLI (issue 9, item 4): `unpack` ends cleanly on SIGINT, SIGTERM and
SIGHUP, and a signal after a build completed does not change its outcome.

Each case runs the real CLI in a child process, with a library function wrapped (in that child
only) so that the child sends itself the signal at one exact point: no test hook in the product.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests import bundle_factory as bf
from tests.factory import REPO, make_profile

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


def mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def run_cli_signalling(
    tmp_path: Path, target: str, sig: int, args: list[str]
) -> subprocess.CompletedProcess[str]:
    """`osbundle ARGS` in a child whose `module:attr` (a function, or Class.method) sends the
    child `sig` just after it returns."""
    module, _, attr = target.partition(":")
    owner, _, name = attr.rpartition(".")
    script = textwrap.dedent(
        f"""
        import importlib, os, sys
        module = importlib.import_module({module!r})
        owner = getattr(module, {owner!r}) if {owner!r} else module
        original = getattr(owner, {name!r})
        def then_signal(*args, **kwargs):
            result = original(*args, **kwargs)
            os.kill(os.getpid(), {int(sig)})
            return result
        setattr(owner, {name!r}, then_signal)
        from osbundle.cli.app import main
        sys.argv = ["osbundle", *{args!r}]
        main()
        """
    )
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000", OSBUNDLE_HOME=str(tmp_path / "state"))
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_unpack_stopped_while_writing_exits_130_and_leaves_nothing(
    tmp_path: Path, sig: int
) -> None:
    bundle = bf.good_bundle(mkdir(tmp_path / "b"))
    before = sorted(p.name for p in tmp_path.iterdir())
    done = run_cli_signalling(
        tmp_path,
        "osbundle.bundle.unpack:SafeTree.write",
        sig,
        ["unpack", str(bundle), str(tmp_path / "dest")],
    )
    assert done.returncode == 130, done.stderr
    name = signal.Signals(sig).name
    assert done.stderr.splitlines() == [f"osbundle: error: interrupted by {name}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no dest, no temporary tree


def test_unpack_stopped_after_a_member_was_written_leaves_nothing(tmp_path: Path) -> None:
    bundle = bf.good_bundle(mkdir(tmp_path / "b"))
    out = tmp_path / "out"
    out.mkdir()
    done = run_cli_signalling(
        tmp_path,
        "osbundle.bundle.unpack:SafeTree.end",
        signal.SIGTERM,
        ["unpack", str(bundle), str(out / "dest")],
    )
    assert done.returncode == 130, done.stderr
    assert list(out.iterdir()) == []


def test_a_signal_after_unpack_renamed_the_tree_keeps_its_success(tmp_path: Path) -> None:
    bundle = bf.good_bundle(mkdir(tmp_path / "b"))
    dest = tmp_path / "dest"
    done = run_cli_signalling(
        tmp_path,
        "osbundle.bundle.unpack:commit",
        signal.SIGTERM,
        ["unpack", str(bundle), str(dest)],
    )
    assert done.returncode == 0, done.stderr
    assert (dest / "profile.yaml").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def job_statuses(tmp_path: Path) -> list[str]:
    with sqlite3.connect(tmp_path / "state" / "jobs.sqlite3") as conn:
        return [row[0] for row in conn.execute("SELECT status FROM jobs ORDER BY id")]


@pytest.mark.parametrize(
    "target",
    [
        "osbundle.destinations.local:LocalUpload.commit",  # just after the bundle appeared
        "osbundle.jobs.worker:run_job",  # the job is recorded Complete
        "osbundle.cli.app:build_now",  # before the result is printed
        "osbundle.cli.render:build_text",  # while it is printed
    ],
)
def test_a_sigterm_after_a_build_completed_leaves_it_complete_and_exit_0(
    tmp_path: Path, target: str
) -> None:
    profile = make_profile(tmp_path / "p", {"a.txt": b"a"})
    out = tmp_path / "out"
    done = run_cli_signalling(
        tmp_path, target, signal.SIGTERM, ["build", str(profile), "-o", str(out)]
    )
    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr
    assert job_statuses(tmp_path) == ["Complete"]
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 2
    assert names[1] == names[0] + ".sha256"


@pytest.mark.slow
@pytest.mark.parametrize("sig", SIGNALS[1:], ids=lambda s: signal.Signals(s).name)
def test_unpack_signalled_from_outside_exits_130_and_leaves_nothing(
    tmp_path: Path, sig: int
) -> None:
    big = bf.FMember("custom/files/big.bin", bytes(128 << 20), "file")  # 128 MiB to write
    bundle = bf.good_bundle(mkdir(tmp_path / "b"), [big])
    out = mkdir(tmp_path / "out")
    env = dict(os.environ, OSBUNDLE_HOME=str(tmp_path / "state"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "osbundle", "unpack", str(bundle), str(out / "dest")],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    written = list(out.glob(".dest.unpack-*/custom/files/big.bin"))
    while not (written and written[0].stat().st_size > 0):
        assert time.monotonic() < deadline, "unpack never started writing"
        assert proc.poll() is None, "unpack never started writing"
        time.sleep(0.005)
        written = list(out.glob(".dest.unpack-*/custom/files/big.bin"))
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert stderr.splitlines() == [f"osbundle: error: interrupted by {signal.Signals(sig).name}"]
    assert list(out.iterdir()) == []
