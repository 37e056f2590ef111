from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osbundle.errors import JobError
from osbundle.jobs.record import request_from_json, request_to_json
from osbundle.model import BuildRequest


@given(
    profile=st.text(st.characters(min_codepoint=1, max_codepoint=0xD7FF)),
    force=st.booleans(),
    compression=st.sampled_from(["fast", "default", "best"]),
    threads=st.integers(0, 512),
    epoch=st.none() | st.integers(0, 8_589_934_591),
)
def test_request_round_trips_through_the_record(
    profile: str, force: bool, compression: str, threads: int, epoch: int | None
) -> None:
    req = BuildRequest(
        profile_dir=Path("/p") / profile.replace("/", "_"),
        outdir=Path("/o"),
        force=force,
        compression=compression,  # type: ignore[arg-type]
        threads=threads,
        source_date_epoch=epoch,
    )
    assert request_from_json(request_to_json(req)) == req


def test_malformed_stored_request_is_a_job_error() -> None:
    with pytest.raises(JobError, match="incomplete"):
        request_from_json({"profileDir": "/p"})
    good = request_to_json(BuildRequest(Path("/p"), Path("/o")))
    with pytest.raises(JobError, match="malformed"):
        request_from_json({**good, "compression": "zip"})
