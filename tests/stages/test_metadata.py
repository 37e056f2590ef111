from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from osbundle.stages.metadata import canonical_json, sha256sums


def test_canonical_json_is_sorted_compact_utf8_with_newline() -> None:
    data = canonical_json({"b": 1, "a": {"z": "ü", "y": [1, 2]}})
    assert data == '{"a":{"y":[1,2],"z":"ü"},"b":1}\n'.encode()


@given(st.dictionaries(st.text(), st.one_of(st.integers(), st.text(), st.booleans())))
def test_canonical_json_round_trips_and_is_order_independent(doc: dict[str, object]) -> None:
    reordered = dict(reversed(list(doc.items())))
    assert canonical_json(doc) == canonical_json(reordered)
    assert json.loads(canonical_json(doc)) == doc


def test_sha256sums_is_accepted_by_sha256sum(tmp_path: Path) -> None:
    names = ["plain.txt", "with space.txt", "back\\slash.txt", "new\nline.txt", "ünï.txt"]
    lines = []
    for i, name in enumerate(names):
        data = f"content {i}".encode()
        (tmp_path / name).write_bytes(data)
        lines.append((name, hashlib.sha256(data).hexdigest()))
    (tmp_path / "SUMS").write_bytes(sha256sums(lines))
    done = subprocess.run(
        ["sha256sum", "-c", "--strict", "SUMS"], cwd=tmp_path, capture_output=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(b": OK") == len(names)


def test_real_metadata_of_every_example_validates_against_the_shipped_schema(
    tmp_path: Path,
) -> None:
    import tarfile

    from jsonschema import Draft202012Validator

    from osbundle.model import BuildRequest
    from osbundle.pipeline import build_bundle
    from osbundle.resources import load_schema

    validator = Draft202012Validator(load_schema("metadata.schema.json"))
    examples = Path(__file__).resolve().parents[2] / "profiles"
    profiles = sorted(p.parent for p in examples.rglob("profile.yaml"))
    assert len(profiles) >= 5
    for profile in profiles:
        request = BuildRequest(profile, tmp_path / profile.name, source_date_epoch=0)
        result = build_bundle(request)
        with tarfile.open(result.path) as tar:
            names = tar.getnames()
            member = tar.extractfile(names[-2])
            assert member is not None
            document = json.loads(member.read())
        assert names[-2].endswith("/metadata.json")
        errors = [e.message for e in validator.iter_errors(document)]
        assert errors == [], (profile, errors)
        assert len(document["members"]) == len(names) - 2
