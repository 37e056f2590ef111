"""Which destination a build request names: its local output directory."""

from __future__ import annotations

from pathlib import Path

from osbundle.destinations.local import LocalDestination
from osbundle.destinations.resolve import destination_for
from osbundle.model import BuildRequest


def test_a_request_goes_to_a_local_destination_on_its_outdir(tmp_path: Path) -> None:
    request = BuildRequest(profile_dir=tmp_path / "profile", outdir=tmp_path / "out")
    destination = destination_for(request)
    assert isinstance(destination, LocalDestination)
    assert destination == LocalDestination(tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing is created until a build claims a name


def test_an_upload_through_it_lands_in_the_outdir(tmp_path: Path) -> None:
    destination = destination_for(BuildRequest(tmp_path / "profile", tmp_path / "o"))
    upload = destination.open("b.tar.gz", "1", force=False)
    upload.file.write(b"bundle")
    upload.commit(b"checksum\n")
    assert (tmp_path / "o" / "b.tar.gz").read_bytes() == b"bundle"
    assert (tmp_path / "o" / "b.tar.gz.sha256").read_bytes() == b"checksum\n"
