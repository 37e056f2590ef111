"""Export stage: the bundle's name, its checksum file, and publishing through a destination."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from osbundle.stages import export
from tests.destinations.memory import MemoryDestination


def test_bundle_filename_is_utc_timestamp_and_profile_name() -> None:
    assert export.bundle_filename("P", 1700000000) == "20231114221320_P.tar.gz"
    assert export.bundle_filename("P", 0) == "19700101000000_P.tar.gz"


def test_checksum_file_is_accepted_by_sha256sum(tmp_path: Path) -> None:
    (tmp_path / "b.tar.gz").write_bytes(b"payload")
    digest = hashlib.sha256(b"payload").hexdigest()
    (tmp_path / "b.tar.gz.sha256").write_bytes(export.checksum_file("b.tar.gz", digest))
    check = subprocess.run(
        ["sha256sum", "-c", "b.tar.gz.sha256"], cwd=tmp_path, capture_output=True, check=False
    )
    assert check.returncode == 0, check.stderr


def test_publish_commits_the_upload_with_its_checksum() -> None:
    destination = MemoryDestination()
    upload = destination.open("b.tar.gz", "1", force=False)
    upload.file.write(b"payload")
    export.publish(upload, "ab" * 32)
    assert destination.published["b.tar.gz"] == b"payload"
    assert destination.published["b.tar.gz.sha256"] == f"{'ab' * 32}  b.tar.gz\n".encode()
