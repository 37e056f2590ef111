from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from osbundle.bundle.verify import verify_bundle
from osbundle.cli.render import (
    default_format,
    diagnostic_json,
    github_line,
    plan_json_lines,
    render_report,
    verify_lines,
)
from osbundle.diagnostics import Diagnostic
from osbundle.plan import PlannedMember
from osbundle.profile.load import ProfileReport
from osbundle.profile.validate import ValidationRun
from tests import bundle_factory as bf

D1 = Diagnostic("a/profile.yaml", 3, 5, ("drivers", 0, "phase"), "'later' is bad", "use pre")
D2 = Diagnostic("a/profile.yaml", 7, 1, (), "not a mapping")


def run(*reports: tuple[str, tuple[Diagnostic, ...]]) -> ValidationRun:
    return ValidationRun(tuple(ProfileReport(f, None, d) for f, d in reports))


def test_text() -> None:
    text = render_report(run(("a/profile.yaml", (D1, D2)), ("b/profile.yaml", ())), "text")
    assert text.splitlines() == [
        "a/profile.yaml:3:5: drivers[0].phase: 'later' is bad (hint: use pre)",
        "a/profile.yaml:7:1: (root): not a mapping",
        "2 errors in 1 of 2 profiles",
    ]
    assert render_report(run(("x", ())), "text") == "validated 1 profile: all valid"
    assert render_report(run(("x", ()), ("y", ())), "text") == "validated 2 profiles: all valid"
    assert render_report(run(("x", (D2,)), ("y", ())), "text").endswith(
        "1 error in 1 of 2 profiles"
    )


def test_json_is_stable() -> None:
    out = json.loads(render_report(run(("a/profile.yaml", (D1,)), ("b", ())), "json"))
    assert out == {
        "valid": False,
        "profiles": [
            {
                "file": "a/profile.yaml",
                "valid": False,
                "errors": [
                    {
                        "file": "a/profile.yaml",
                        "line": 3,
                        "col": 5,
                        "path": "drivers[0].phase",
                        "message": "'later' is bad",
                        "hint": "use pre",
                    }
                ],
                "warnings": [],
            },
            {"file": "b", "valid": True, "errors": [], "warnings": []},
        ],
    }
    assert diagnostic_json(D2)["path"] == "(root)"


def test_github() -> None:
    lines = render_report(run(("a/profile.yaml", (D1,))), "github").splitlines()
    assert lines == [
        "::error file=a/profile.yaml,line=3,col=5,title=osbundle::drivers[0].phase: "
        "'later' is bad (hint: use pre)",
        "1 error in 1 of 1 profile",
    ]
    weird = Diagnostic("dir,x:y/p%.yaml", 1, 2, ("k",), "50% done\r\nnext", None, "warning")
    assert github_line(weird) == (
        "::warning file=dir%2Cx%3Ay/p%25.yaml,line=1,col=2,title=osbundle::k: 50%25 done%0D%0Anext"
    )


@given(st.text(), st.text())
def test_github_lines_are_single_lines(file: str, message: str) -> None:
    line = github_line(Diagnostic(file, 1, 1, ("a",), message))
    assert "\n" not in line
    assert "\r" not in line
    props = line.split("::")[1]
    assert props.count(",") == 3
    assert props.count(":") == 0


def test_default_format() -> None:
    assert default_format({"GITHUB_ACTIONS": "true"}) == "github"
    assert default_format({"GITHUB_ACTIONS": "false"}) == "text"
    assert default_format({}) == "text"


def test_verify_lines_name_the_bundle_once(tmp_path: Path) -> None:
    bundle = bf.good_bundle(tmp_path)
    sums = bundle.with_name(bundle.name + ".sha256")
    sums.write_text(f"{'ab' * 32}  {bundle.name}\n")
    lines = verify_lines(verify_bundle(bundle))
    assert lines == [f"{bundle}: the archive's sha256 does not match {sums.name}"]
    assert lines[0].count(bundle.name) == 1 + lines[0].count(sums.name)


@settings(max_examples=25, deadline=None)
@given(count=st.integers(0, 3), source=st.text(max_size=5))
def test_plan_json_lines_are_the_whole_plan_s_json(count: int, source: str) -> None:
    members = [
        PlannedMember(f'files/{n}\n"', "file", source, n, 0o644, n % 2 == 0) for n in range(count)
    ]
    head = {"profile": {"name": "p", "é": [1, {"a": None}]}, "fingerprint": "f", "totalBytes": 3}
    whole = {**head, "members": [m.to_json("p") for m in members]}
    assert "\n".join(plan_json_lines(head, "p", members)) == json.dumps(
        whole, indent=2, ensure_ascii=False
    )
