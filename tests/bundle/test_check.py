"""bundle/check.py: a scan against SHA256SUMS and metadata.json, one problem at a time, in order."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import xxhash
from hypothesis import example, given
from hypothesis import strategies as st

from osbundle.bundle.check import check_scan, check_whole, parse_sums
from osbundle.bundle.joined import folded_collisions, streamed_check
from osbundle.bundle.problems import Problem, label, unattend_problems
from osbundle.bundle.read import ScanResult, scan_bundle
from osbundle.bundle.spool import MemberRecord, SpilledBytes
from osbundle.bundle.tarread import TarEntry
from osbundle.bundle.verify import verify_bundle
from osbundle.model import TRAILERS
from osbundle.stages.metadata import sha256sums
from tests import bundle_factory as bf

SYS = f"{bf.TOP}/drivers/intel-e1d/e1d.sys"


def rewrite(bundle: Path, tar: bytes) -> None:
    """Replace the archive with a fresh gzip of `tar` and a matching .sha256."""
    bf.write_bundle(bundle.parent, bf.gzip_bytes(tar), filename=bundle.name)


def flip_member_byte(tar: bytes, data: bytes, at: int = 5) -> bytes:
    start = tar.index(data)
    out = bytearray(tar)
    out[start + at] ^= 0x01
    return bytes(out)


def test_flipped_byte_names_the_member(tmp_path: Path) -> None:
    bundle = bf.good_bundle(tmp_path)
    sys_data = next(m.data for m in bf.windows_members() if m.path.endswith("e1d.sys"))
    tar = flip_member_byte(bf.tar_bytes(bf.bundle_entries()), sys_data, at=1000)
    rewrite(bundle, tar)  # only the tar content differs: gzip and .sha256 are consistent
    report = verify_bundle(bundle)
    assert not report.ok
    assert report.problems == (
        f"{SYS}: sha256 differs from metadata.json",
        f"{SYS}: xxh3_128 differs from metadata.json",
        f"{SYS}: sha256 differs from SHA256SUMS",
    )
    fast = verify_bundle(bundle, fast=True)
    assert fast.problems == (f"{SYS}: xxh3_128 differs from metadata.json",)


def test_first_bad_member_is_reported_first(tmp_path: Path) -> None:
    bundle = bf.good_bundle(tmp_path)
    members = bf.windows_members()
    tar = bf.tar_bytes(bf.bundle_entries())
    for m in (members[-1], members[0]):  # tamper with the last payload member, then the first
        tar = flip_member_byte(tar, m.data, at=2)
    rewrite(bundle, tar)
    problems = verify_bundle(bundle).problems
    assert problems[0].startswith(f"{bf.TOP}/{members[0].path}: ")
    assert problems[-1].startswith(f"{bf.TOP}/{members[-1].path}: ")


def test_fast_mode_cross_checks_sums_against_metadata(tmp_path: Path) -> None:
    entries = bf.bundle_entries()
    name, sums, mode = entries[-1]
    first = sums.split(b"\n")[0]
    bad = (b"0" * 64) + first[64:]
    entries[-1] = (name, sums.replace(first, bad), mode)
    bundle = bf.write_bundle(tmp_path, bf.gzip_bytes(bf.tar_bytes(entries)))
    member = f"{bf.TOP}/{bf.windows_members()[0].path}"
    assert verify_bundle(bundle, fast=True).problems == (
        f"{member}: SHA256SUMS and metadata.json disagree on its sha256",
    )
    assert verify_bundle(bundle).problems == (f"{member}: sha256 differs from SHA256SUMS",)


def tampered(tmp_path: Path, edit: Any) -> tuple[str, ...]:
    """Problems of a bundle whose (member list, metadata doc) `edit` changed; trailers follow."""
    members = bf.windows_members()
    doc = bf.metadata_doc(bf.Profile(), members)
    members, doc = edit(members, doc)
    metadata = bf.canonical(doc)
    pairs = [(m.path, m.data) for m in members] + [("metadata.json", metadata)]
    entries = [(f"{bf.TOP}/{m.path}", m.data, m.mode) for m in members]
    entries += [(f"{bf.TOP}/metadata.json", metadata, 0o644)]
    entries += [(f"{bf.TOP}/SHA256SUMS", bf.sums_file(pairs), 0o644)]
    return verify_bundle(bf.write_bundle(tmp_path, bf.gzip_bytes(bf.tar_bytes(entries)))).problems


def test_unlisted_missing_and_duplicate_members(tmp_path: Path) -> None:
    def edit(members: list[bf.FMember], doc: dict[str, Any]) -> Any:
        extra = bf.FMember("custom/files/zz-extra.txt", b"x", "file")
        dup = members[0]
        doc["members"].append(bf.inventory_item(bf.FMember("custom/files/zz-gone", b"", "file")))
        return [*members[:1], dup, *members[1:], extra], doc

    problems = tampered(tmp_path, edit)
    first = f"{bf.TOP}/{bf.windows_members()[0].path}"
    assert problems[0] == f"{first}: duplicate member name"
    assert (
        f"{bf.TOP}/custom/files/zz-extra.txt: in the archive but not listed in metadata.json"
        in (problems)
    )
    assert (
        f"{bf.TOP}/custom/files/zz-gone: listed in metadata.json but missing from the archive"
        in (problems)
    )


def test_metadata_schema_and_canonical_form(tmp_path: Path) -> None:
    def edit(members: list[bf.FMember], doc: dict[str, Any]) -> Any:
        doc["formatVersion"] = 2
        return members, doc

    problems = tampered(tmp_path, edit)
    assert any("does not match its schema at .formatVersion" in p for p in problems)

    entries = bf.bundle_entries()
    name, raw, mode = entries[-2]
    pretty = json.dumps(json.loads(raw), indent=1).encode() + b"\n"
    entries[-2] = (name, pretty, mode)
    bundle = bf.write_bundle(tmp_path, bf.gzip_bytes(bf.tar_bytes(entries)))
    problems = verify_bundle(bundle).problems
    assert "metadata.json is not canonical JSON" in problems[0]
    assert problems[1] == f"{bf.TOP}/metadata.json: sha256 differs from SHA256SUMS"


def test_windows_case_collisions_and_order(tmp_path: Path) -> None:
    def edit(members: list[bf.FMember], doc: dict[str, Any]) -> Any:
        twin = bf.FMember("custom/files/TOOLS/readme.txt", b"y", "file")
        members = sorted([*members, twin], key=lambda m: m.path.encode())
        return members, bf.metadata_doc(bf.Profile(), members)

    problems = tampered(tmp_path, edit)
    assert problems == (
        f"{bf.TOP}/custom/files/tools/readme.txt: collides with 'custom/files/TOOLS/readme.txt' "
        "when case is ignored",
    )


def test_out_of_order_payload_and_trailers(tmp_path: Path) -> None:
    entries = bf.bundle_entries()
    entries[0], entries[1] = entries[1], entries[0]
    entries[-1], entries[-2] = entries[-2], entries[-1]
    bundle = bf.write_bundle(tmp_path, bf.gzip_bytes(bf.tar_bytes(entries)))
    problems = verify_bundle(bundle).problems
    assert any("out of order" in p for p in problems)
    assert "metadata.json is not the second-to-last member" in problems
    assert "SHA256SUMS is not the last member" in problems


# --- synthetic scans: what scan_bundle would read, without writing an archive ---------------

Entries = list[tuple[str, bytes, int]]
Doc = dict[str, Any]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def scan_of(entries: Sequence[tuple[str, bytes, int]], *, fast: bool = False) -> ScanResult:
    """The ScanResult of an archive holding `entries` (name, data, mode), in that order."""
    records = []
    trailers: dict[str, SpilledBytes] = {}
    top = entries[0][0].split("/", 1)[0]
    for index, (entry_name, data, mode) in enumerate(entries):
        path = entry_name.split("/", 1)[1]
        entry = TarEntry(entry_name, len(data), mode, bf.EPOCH, index, index * 1024)
        if path in TRAILERS:
            trailers.setdefault(path, SpilledBytes.of(data))
            records.append(MemberRecord(entry, path, sha(data), None))
        else:
            digest = None if fast else sha(data)
            records.append(MemberRecord(entry, path, digest, xxhash.xxh3_128(data).hexdigest()))
    return ScanResult(top, tuple(records), trailers, b"", 0, 0, None)


def assemble(
    members: list[bf.FMember], metadata: bytes, sums: Callable[[bytes], bytes] = lambda raw: raw
) -> Entries:
    """Payload, `metadata`, and SHA256SUMS over both (then passed through `sums`)."""
    pairs = [(m.path, m.data) for m in members] + [("metadata.json", metadata)]
    entries = [(f"{bf.TOP}/{m.path}", m.data, m.mode) for m in members]
    entries.append((f"{bf.TOP}/metadata.json", metadata, 0o644))
    entries.append((f"{bf.TOP}/SHA256SUMS", sums(bf.sums_file(pairs)), 0o644))
    return entries


def problems_of(entries: Entries, *, fast: bool = False) -> list[str]:
    """check_scan's problems; where the streamed check takes the bundle, they must be exactly
    the whole check's (every synthetic case here is also a case of the two agreeing)."""
    scan = scan_of(entries, fast=fast)
    streamed = streamed_check(scan, fast=fast)
    if streamed is not None:
        whole = check_whole(scan, fast=fast)
        assert streamed.problems == whole.problems
        assert streamed.metadata == whole.metadata
    return check_scan(scan, fast=fast)


def with_doc(edit: Callable[[Doc], object]) -> Entries:
    """The default Windows bundle with its metadata document changed by `edit`."""
    doc = bf.metadata_doc(bf.Profile(), bf.windows_members())
    edit(doc)
    return assemble(bf.windows_members(), bf.canonical(doc))


def with_metadata_bytes(raw: bytes) -> Entries:
    """The default Windows bundle with `raw` as metadata.json (and SHA256SUMS to match)."""
    return assemble(bf.windows_members(), raw)


def with_sums(edit: Callable[[bytes], bytes]) -> Entries:
    """The default Windows bundle with its SHA256SUMS changed by `edit`."""
    members = bf.windows_members()
    return assemble(members, bf.canonical(bf.metadata_doc(bf.Profile(), members)), edit)


def name(path: str) -> str:
    return f"{bf.TOP}/{path}"


MEMBERS = bf.windows_members()
FIRST, README = MEMBERS[0].path, "custom/files/tools/readme.txt"


def test_synthetic_scan_is_what_scan_bundle_reads(tmp_path: Path) -> None:
    real = scan_bundle(bf.good_bundle(tmp_path), sha256=True, xxh3=True)
    fake = scan_of(bf.bundle_entries())
    assert fake.top == real.top
    assert fake.trailers == real.trailers
    for a, b in zip(fake.records, real.records, strict=True):
        assert (a.path, a.sha256, a.xxh3_128) == (b.path, b.sha256, b.xxh3_128)
        assert (a.entry.name, a.entry.size, a.entry.mode, a.entry.index) == (
            b.entry.name,
            b.entry.size,
            b.entry.mode,
            b.entry.index,
        )


@pytest.mark.parametrize("fast", [False, True])
def test_a_well_formed_scan_has_no_problems(fast: bool) -> None:
    assert problems_of(bf.bundle_entries(), fast=fast) == []
    linux = [bf.FMember("custom/scripts/a.sh", b"echo\n", "script", 0o755, phase="pre")]
    profile = bf.Profile(family="rhel", id="rhel9|x", install={})
    assert problems_of(bf.bundle_entries(linux, profile), fast=fast) == []


@pytest.mark.parametrize(("mode", "text"), [(0o600, "0600"), (0o4755, "4755"), (0o777, "0777")])
def test_a_mode_other_than_0644_or_0755_is_named(mode: int, text: str) -> None:
    entries = bf.bundle_entries()
    entry_name, data, _ = entries[0]
    entries[0] = (entry_name, data, mode)
    assert problems_of(entries) == [
        f"{entry_name}: mode {text} is not 0644 or 0755",
        f"{entry_name}: mode {text} differs from metadata.json (0644)",
    ]


def test_a_trailer_with_a_bad_mode_is_named_too() -> None:
    entries = bf.bundle_entries()
    entry_name, data, _ = entries[-1]
    entries[-1] = (entry_name, data, 0o600)
    assert problems_of(entries) == [f"{entry_name}: mode 0600 is not 0644 or 0755"]


def test_missing_sha256sums() -> None:
    entries = bf.bundle_entries()[:-1]
    assert problems_of(entries) == [
        "metadata.json is not the second-to-last member",
        "the archive has no SHA256SUMS",
    ]


def test_missing_metadata_skips_the_inventory_but_not_the_sums() -> None:
    entries = bf.bundle_entries()
    del entries[-2]
    assert problems_of(entries) == [
        "the archive has no metadata.json",
        f"{name('metadata.json')}: listed in SHA256SUMS but missing from the archive",
    ]


def test_payload_only_archive_misses_both_trailers() -> None:
    entries = bf.bundle_entries()[:-2]
    assert problems_of(entries) == [
        "the archive has no metadata.json",
        "the archive has no SHA256SUMS",
    ]


def test_a_duplicated_trailer_is_a_duplicate_member() -> None:
    entries = bf.bundle_entries()
    entries.insert(-1, entries[-2])
    problems = problems_of(entries)
    assert problems[0] == f"{name('metadata.json')}: duplicate member name"
    assert "metadata.json is not the second-to-last member" not in problems


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json\n", "metadata.json is not valid JSON ("),
        (b"[]\n", "metadata.json does not hold a JSON object"),
        (b'{"a":1}\xff\n', "metadata.json is not valid JSON ("),
    ],
)
def test_unreadable_metadata_is_one_problem(raw: bytes, message: str) -> None:
    problems = problems_of(with_metadata_bytes(raw))
    assert len(problems) == 1
    assert problems[0].startswith(message)
    assert "\n" not in problems[0]


def test_schema_invalid_metadata_skips_the_inventory() -> None:
    def edit(doc: Doc) -> None:
        doc["formatVersion"] = 2
        doc["members"] = []  # would be "not listed" eight times if the inventory were read

    problems = problems_of(with_doc(edit))
    assert problems == ["metadata.json does not match its schema at .formatVersion: 1 was expected"]


def test_non_canonical_metadata_is_still_checked_against_the_payload() -> None:
    doc = bf.metadata_doc(bf.Profile(), MEMBERS)
    doc["members"][0]["size"] += 1
    entries = with_metadata_bytes(json.dumps(doc, indent=1).encode() + b"\n")
    size = len(MEMBERS[0].data)
    assert problems_of(entries) == [
        f"{name(FIRST)}: size {size} differs from metadata.json ({size + 1})",
        "metadata.json is not canonical JSON (sorted keys, no whitespace, one trailing newline)",
    ]


def test_metadata_with_a_lone_surrogate_escape_is_a_problem_not_a_crash() -> None:
    # JSON lets metadata.json spell a lone surrogate; UTF-8 cannot encode what it decodes to.
    raw = bf.canonical(bf.metadata_doc(bf.Profile(), MEMBERS))
    raw = raw.replace(b'"description":"Windows Server 2016 Datacenter"', b'"description":"\\ud800"')
    assert b"\\ud800" in raw
    problems = problems_of(with_metadata_bytes(raw))
    assert problems == [
        "metadata.json is not valid JSON (it escapes a lone surrogate, which is no character)"
    ]


@pytest.mark.parametrize("escape", [b"\\ud83d\\ude00", b"\\\\ud800"])
def test_a_surrogate_pair_or_an_escaped_backslash_is_no_lone_surrogate(escape: bytes) -> None:
    raw = bf.canonical(bf.metadata_doc(bf.Profile(), MEMBERS))
    raw = raw.replace(
        b'"description":"Windows Server 2016 Datacenter"', b'"description":"' + escape + b'"'
    )
    problems = problems_of(with_metadata_bytes(raw))
    assert not any("surrogate" in p for p in problems), problems


# --- SHA256SUMS ------------------------------------------------------------------------------

D = "ab" * 32


def malformed(*numbers: int) -> list[str]:
    return [f"SHA256SUMS line {n} is malformed" for n in numbers]


@pytest.mark.parametrize(
    ("raw", "pairs", "bad"),
    [
        (b"", [], []),
        (b"\xff\n", [], ["SHA256SUMS is not UTF-8"]),
        (f"{D}  a".encode(), [], ["SHA256SUMS does not end with a newline"]),
        (f"{D}  a\n{D} *b\n".encode(), [("a", D), ("b", D)], []),
        (f"{D}   lead\n".encode(), [(" lead", D)], []),
        (f"{D}  *star\n".encode(), [("*star", D)], []),
        (f"\\{D}  a\\\\b\\nc\n".encode(), [("a\\b\nc", D)], []),
        (f"{D}  a\\nb\n".encode(), [("a\\nb", D)], []),  # no leading `\`: taken literally
        (f"{D}  ok\nnope\n{D.upper()}  c\n".encode(), [("ok", D)], malformed(2, 3)),
        (f"{D} one-space\n{D}  \n{D[:-1]}  short\n\n".encode(), [], malformed(1, 2, 3, 4)),
    ],
)
def test_parse_sums(raw: bytes, pairs: list[tuple[str, str]], bad: list[str]) -> None:
    assert parse_sums(raw) == (pairs, bad)


# str.splitlines() breaks lines at these too; `sha256sum -c` (and sha256sums) only at "\n".
LINE_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
SUM_NAMES = st.text(
    alphabet=st.one_of(
        st.sampled_from(["\\", "\n", "n", " ", "*", "/"]),
        st.characters(exclude_categories=["Cs"], exclude_characters=LINE_BREAKS),
    ),
    min_size=1,
    max_size=20,
)
DIGESTS = st.binary(min_size=32, max_size=32).map(bytes.hex)


@given(st.lists(st.tuples(SUM_NAMES, DIGESTS), max_size=6))
@example([("a\\nb\\", D), ("x\ny", D), ("\\", D), ("*\\n", D)])
def test_parse_sums_reads_back_what_the_builder_writes(pairs: list[tuple[str, str]]) -> None:
    assert parse_sums(sha256sums(pairs)) == (pairs, [])


# Builds accept such names and sha256sums writes them unescaped: str.splitlines() broke them.
@pytest.mark.parametrize("separator", ["\u2028", "\u2029"])
def test_parse_sums_reads_back_a_name_with_a_unicode_line_separator(separator: str) -> None:
    pairs = [(f"custom/files/a{separator}b.txt", D)]
    assert parse_sums(sha256sums(pairs)) == (pairs, [])


def test_malformed_sums_line_is_named_and_the_rest_still_checked() -> None:
    entries = with_sums(lambda raw: raw + b"garbage\n")
    lines = len(MEMBERS) + 2
    assert problems_of(entries) == [f"SHA256SUMS line {lines} is malformed"]


def test_sums_without_final_newline_lists_nothing() -> None:
    entries = with_sums(lambda raw: raw[:-1])
    listed = [m.path for m in MEMBERS] + ["metadata.json"]
    assert problems_of(entries) == [
        *(f"{name(p)}: in the archive but not listed in SHA256SUMS" for p in listed),
        "SHA256SUMS does not end with a newline",
    ]


def test_sums_line_listed_twice() -> None:
    entries = with_sums(lambda raw: raw.split(b"\n")[0] + b"\n" + raw)
    assert problems_of(entries) == [f"{name(FIRST)}: listed twice in SHA256SUMS"]


def test_sums_out_of_order() -> None:
    def swap(raw: bytes) -> bytes:
        lines = raw.split(b"\n")
        lines[0], lines[1] = lines[1], lines[0]
        return b"\n".join(lines)

    assert problems_of(with_sums(swap)) == ["SHA256SUMS does not list the members in archive order"]


def test_sums_line_for_a_missing_member() -> None:
    entries = with_sums(lambda raw: raw + f"{D}  custom/files/ghost\n".encode())
    assert problems_of(entries) == [
        f"{name('custom/files/ghost')}: listed in SHA256SUMS but missing from the archive"
    ]


def test_sums_that_lists_itself_is_a_problem() -> None:
    entries = with_sums(lambda raw: raw + f"{D}  SHA256SUMS\n".encode())
    problems = problems_of(entries)
    assert len(problems) == 1
    assert problems[0].startswith(f"{name('SHA256SUMS')}: listed in SHA256SUMS")


def test_escaped_sums_name_is_shown_on_one_line() -> None:
    entries = with_sums(lambda raw: raw + f"\\{D}  custom/files/a\\nb\n".encode())
    assert problems_of(entries) == [
        f"{name('custom/files/a')}\\nb: listed in SHA256SUMS but missing from the archive"
    ]


def test_a_member_that_differs_from_its_sums_line() -> None:
    run_exe = MEMBERS[1]
    entries = with_sums(lambda raw: raw.replace(sha(run_exe.data).encode(), D.encode()))
    assert problems_of(entries) == [f"{name(run_exe.path)}: sha256 differs from SHA256SUMS"]
    # fast mode does not hash the payload with sha256: metadata.json is the witness instead
    assert problems_of(entries, fast=True) == [
        f"{name(run_exe.path)}: SHA256SUMS and metadata.json disagree on its sha256"
    ]


def test_metadata_is_checked_against_its_sums_line_in_fast_mode_too() -> None:
    def edit(raw: bytes) -> bytes:
        *payload, metadata_line, _ = raw.split(b"\n")
        return b"\n".join([*payload, D.encode() + metadata_line[64:], b""])

    for fast in (False, True):
        assert problems_of(with_sums(edit), fast=fast) == [
            f"{name('metadata.json')}: sha256 differs from SHA256SUMS"
        ]


# --- metadata.json inventory -----------------------------------------------------------------


def member_item(doc: Doc, path: str) -> dict[str, Any]:
    return next(item for item in doc["members"] if item["path"] == path)


def test_profile_name_must_be_the_top_directory() -> None:
    problems = problems_of(with_doc(lambda doc: doc["profile"].update(name="Other")))
    assert problems == [
        f"metadata.json names the profile 'Other' but the top directory is '{bf.TOP}'"
    ]


def test_member_listed_twice_in_metadata() -> None:
    problems = problems_of(with_doc(lambda doc: doc["members"].append(doc["members"][0])))
    assert problems == [f"{name(FIRST)}: listed twice in metadata.json"]


def test_metadata_out_of_order() -> None:
    problems = problems_of(with_doc(lambda doc: doc["members"].reverse()))
    assert problems == ["metadata.json does not list the members in archive order"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("size", 1, "size 8 differs from metadata.json (1)"),
        ("mode", "0755", "mode 0644 differs from metadata.json (0755)"),
        ("kind", "software", "kind software but not under custom/software/"),
        ("xxh3_128", "0" * 32, "xxh3_128 differs from metadata.json"),
    ],
)
@pytest.mark.parametrize("fast", [False, True])
def test_member_against_its_inventory_item(
    field: str, value: object, message: str, fast: bool
) -> None:
    problems = problems_of(
        with_doc(lambda doc: member_item(doc, README).update({field: value})), fast=fast
    )
    assert problems == [f"{name(README)}: {message}"]


def test_several_differences_of_one_member_are_listed_in_a_fixed_order() -> None:
    def edit(doc: Doc) -> None:
        member_item(doc, README).update(size=1, mode="0755", sha256="0" * 64, xxh3_128="0" * 32)
        member_item(doc, README)["kind"] = "boot"

    prefix = f"{name(README)}: "
    assert problems_of(with_doc(edit)) == [
        prefix + "size 8 differs from metadata.json (1)",
        prefix + "mode 0644 differs from metadata.json (0755)",
        prefix + "sha256 differs from metadata.json",
        prefix + "xxh3_128 differs from metadata.json",
        prefix + "kind boot but not under boot/",
    ]


def test_inventory_sha256_is_compared_in_full_mode_only() -> None:
    entries = with_doc(lambda doc: member_item(doc, README).update(sha256="0" * 64))
    assert problems_of(entries) == [f"{name(README)}: sha256 differs from metadata.json"]
    assert problems_of(entries, fast=True) == [
        f"{name(README)}: SHA256SUMS and metadata.json disagree on its sha256"
    ]


def test_fast_mode_skips_the_inventory_sha256_even_when_the_scan_has_it() -> None:
    entries = with_doc(lambda doc: member_item(doc, README).update(sha256="0" * 64))
    assert check_scan(scan_of(entries), fast=True) == []  # SHA256SUMS still matches the bytes
    assert check_scan(scan_of(entries), fast=False) == [
        f"{name(README)}: sha256 differs from metadata.json"
    ]


def test_a_trailer_listed_as_a_member_is_a_problem() -> None:
    def edit(doc: Doc) -> None:
        doc["members"].append({**doc["members"][-1], "path": "SHA256SUMS"})

    problems = problems_of(with_doc(edit))
    assert len(problems) == 1
    assert problems[0].startswith(f"{name('SHA256SUMS')}: listed in metadata.json")


# --- unattend files ----------------------------------------------------------------------------

UNATTEND = "unattend/autounattend.xml"


def no_match(path: str) -> str:
    return (
        f"metadata.json: unattendFiles entry {path!r} does not match an unattend member of "
        "the same name"
    )


def not_listed(path: str) -> str:
    return f"metadata.json: predefinedUnattend {path!r} is not one of the unattendFiles"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda doc: doc["unattendFiles"][0].update(name="other"), [no_match(UNATTEND)]),
        (
            lambda doc: doc["unattendFiles"][0].update(path="unattend/ghost.xml"),
            [no_match("unattend/ghost.xml"), not_listed(UNATTEND)],
        ),
        (
            lambda doc: doc["unattendFiles"][0].update(path=README),
            [no_match(README), not_listed(UNATTEND)],
        ),
        (lambda doc: doc.update(unattendFiles=[]), [not_listed(UNATTEND)]),
        (lambda doc: doc.update(predefinedUnattend=None), []),
        (
            lambda doc: doc.update(predefinedUnattend="unattend/x.xml"),
            [not_listed("unattend/x.xml")],
        ),
    ],
)
def test_unattend_files_against_the_members(
    edit: Callable[[Doc], object], expected: list[str]
) -> None:
    assert problems_of(with_doc(edit)) == expected


def test_unattend_problems_are_ordered_at_the_metadata_member() -> None:
    doc = bf.metadata_doc(bf.Profile(), MEMBERS)
    doc["unattendFiles"][0]["name"] = "other"
    listed = {item["path"]: item for item in doc["members"]}
    assert unattend_problems(doc, listed, 41) == [Problem(41, no_match(UNATTEND))]


# --- Windows: names that collide when case is ignored -------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("custom/files/STRASSE", "custom/files/straße"),  # casefold, not lower()
        ("custom/files/e\u0301.txt", "custom/files/\u00e9.txt"),  # NFD and NFC
        ("custom/files/A/x", "custom/files/a/x"),
    ],
)
def test_folded_collisions_on_windows_only(first: str, second: str) -> None:
    members = [bf.FMember(first, b"1", "file"), bf.FMember(second, b"2", "file")]
    assert [m.path for m in members] == sorted((first, second), key=str.encode)
    windows = bf.bundle_entries(members, bf.Profile(install={}))
    assert problems_of(windows) == [f"{name(second)}: collides with {first!r} when case is ignored"]
    rhel = bf.Profile(family="rhel", id="rhel9|x", install={})
    assert problems_of(bf.bundle_entries(members, rhel)) == []


PATH_PARTS = st.sampled_from(["a", "A", "ß", "ss", "SS", "é", "e\u0301", "É", "x"])


@given(st.lists(st.lists(PATH_PARTS, min_size=1, max_size=3).map("".join), min_size=1, max_size=8))
def test_folded_collisions_names_each_path_unlike_the_first_of_its_folded_key(
    names: list[str],
) -> None:
    paths = [f"custom/files/{n}" for n in names]
    folded = [unicodedata.normalize("NFC", p).casefold() for p in paths]
    first = [paths[folded.index(key)] for key in folded]
    scan = scan_of([(f"{bf.TOP}/{p}", b"", 0o644) for p in paths])
    problems = folded_collisions(scan.top, scan.records)
    expected = [i for i, p in enumerate(paths) if first[i] != p]
    assert [p.order for p in problems] == expected
    for problem in problems:
        path = paths[problem.order]
        assert (
            problem.text
            == f"{name(path)}: collides with {first[problem.order]!r} when case is ignored"
        )


# --- labels and order -----------------------------------------------------------------------------


def test_label() -> None:
    assert label("top", "custom/files/a b") == "top/custom/files/a b"
    assert label("top", "a\nb") == "top/a\\nb"
    assert label("top", "it's\x7f") == "top/it's\\x7f"
    long = label("top", "\t" * 300)
    assert long.startswith("top/\\t")
    assert long.endswith("...")
    assert len(long) < 210


@given(st.text(max_size=300))
def test_label_escapes_control_characters_and_leaves_other_names_alone(path: str) -> None:
    shown = label("top", path)
    assert not any(unicodedata.category(c) == "Cc" for c in shown)
    if not any(unicodedata.category(c) == "Cc" for c in path):
        assert shown == f"top/{path}"


@given(st.sets(st.integers(0, len(MEMBERS) - 1), min_size=1), st.booleans())
def test_problems_come_in_archive_order(tampered: set[int], fast: bool) -> None:
    entries = bf.bundle_entries()
    for i in tampered:
        entry_name, data, mode = entries[i]
        entries[i] = (entry_name, data + b"!", mode)
    entries.insert(-2, (f"{bf.TOP}/zz/unlisted", b"", 0o644))
    index_of = {entry[0]: i for i, entry in enumerate(entries)}
    problems = problems_of(entries, fast=fast)
    indexes = [index_of[p.split(": ", 1)[0]] for p in problems]
    assert indexes == sorted(indexes)
    assert set(indexes) == {*tampered, len(entries) - 3}
