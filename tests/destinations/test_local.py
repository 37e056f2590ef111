from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import pytest

from osbundle.errors import BuildError
from osbundle.interrupts import signals_held
from osbundle.stages import export


def write_bundle(outdir: Path, name: str, data: bytes, *, force: bool = False) -> export.Output:
    out = export.open_output(outdir, name, "7", force=force)
    out.file.write(data)
    return out


def test_bundle_filename_is_utc_timestamp_and_profile_name() -> None:
    assert export.bundle_filename("P", 1700000000) == "20231114221320_P.tar.gz"
    assert export.bundle_filename("P", 0) == "19700101000000_P.tar.gz"


def test_commit_publishes_bundle_and_checksum_atomically(tmp_path: Path) -> None:
    out = write_bundle(tmp_path, "b.tar.gz", b"payload")
    assert out.temp.name == ".b.tar.gz.tmp-7"
    assert not (tmp_path / "b.tar.gz").exists()  # nothing at the final path until commit
    digest = hashlib.sha256(b"payload").hexdigest()
    export.commit_output(out, digest, force=False)
    assert (tmp_path / "b.tar.gz").read_bytes() == b"payload"
    assert (tmp_path / "b.tar.gz.sha256").read_text() == f"{digest}  b.tar.gz\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.tar.gz", "b.tar.gz.sha256"]


def test_existing_output_is_refused_up_front_without_force(tmp_path: Path) -> None:
    (tmp_path / "b.tar.gz").write_bytes(b"old")
    with pytest.raises(BuildError, match="already exists"):
        export.open_output(tmp_path, "b.tar.gz", "1", force=False)
    assert (tmp_path / "b.tar.gz").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.tar.gz"]


def test_output_appearing_during_the_build_is_not_clobbered(tmp_path: Path) -> None:
    out = write_bundle(tmp_path, "b.tar.gz", b"new")
    (tmp_path / "b.tar.gz").write_bytes(b"someone else's")
    with pytest.raises(BuildError, match="already exists"):
        export.commit_output(out, "0" * 64, force=False)
    export.discard_output(out)
    assert (tmp_path / "b.tar.gz").read_bytes() == b"someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.tar.gz"]


def test_force_overwrites(tmp_path: Path) -> None:
    (tmp_path / "b.tar.gz").write_bytes(b"old")
    out = write_bundle(tmp_path, "b.tar.gz", b"new", force=True)
    export.commit_output(out, "0" * 64, force=True)
    assert (tmp_path / "b.tar.gz").read_bytes() == b"new"


def test_second_writer_of_the_same_output_fails_fast(tmp_path: Path) -> None:
    first = write_bundle(tmp_path, "b.tar.gz", b"x")
    with pytest.raises(BuildError, match="another build is writing"):
        export.open_output(tmp_path, "b.tar.gz", "8", force=False)
    export.discard_output(first)
    second = write_bundle(tmp_path, "b.tar.gz", b"y")  # free again once the first is gone
    export.commit_output(second, "0" * 64, force=False)
    assert (tmp_path / "b.tar.gz").read_bytes() == b"y"


def test_discard_leaves_nothing_behind(tmp_path: Path) -> None:
    out = write_bundle(tmp_path, "b.tar.gz", b"partial")
    export.discard_output(out)
    export.discard_output(out)  # idempotent
    assert list(tmp_path.iterdir()) == []


def test_output_directory_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(BuildError, match="cannot create output directory"):
        export.open_output(tmp_path / "f", "b.tar.gz", "1", force=False)


def test_disk_full_message_names_the_target(tmp_path: Path) -> None:
    import errno

    message = export.describe_os_error(OSError(errno.ENOSPC, "No space"), tmp_path / "b.tar.gz")
    assert message == f"no space left on device while writing {tmp_path / 'b.tar.gz'}"


class Interrupted(Exception):
    pass


def test_signals_held_arrive_when_the_block_ends() -> None:
    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGINT, interrupt)
    reached_end = False
    try:
        with pytest.raises(Interrupted):  # noqa: PT012 (the point is where it is raised)
            with signals_held():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)  # a signal not held would have interrupted this
                reached_end = True
            time.sleep(1)  # the held signal arrives here, at the latest
    finally:
        signal.signal(signal.SIGINT, previous)
    assert reached_end
