from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.factory import REPO, make_profile, osbundle
from tests.profile.helpers import WINDOWS_FILES

WINDOWS = REPO / "profiles" / "windows-2016-datacenter"


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("osbundle: error: ")
    return lines[0]


@pytest.fixture
def state(tmp_path: Path) -> dict[str, str]:
    return {"OSBUNDLE_HOME": str(tmp_path / "state")}


def test_build_json_result_has_the_appliance_shape(tmp_path: Path, state: dict[str, str]) -> None:
    done = osbundle("build", str(WINDOWS), "-o", str(tmp_path), "--json", env=state)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["filename"] == "20231114221320_Custom-2016-datacenter-profile.tar.gz"
    assert result["result"] == "success"
    assert result["messages"] == []
    assert result["jobID"].isdigit()
    for key in ("sha256", "tarSha256", "size", "members", "seconds", "compressor"):
        assert key in result
    tasks = json.loads(osbundle("tasks", result["jobID"], "--json", env=state).stdout)
    assert tasks[0]["jobUID"] == result["jobID"]
    assert tasks[0]["status"] == "Complete"


def test_build_without_json_prints_a_summary(tmp_path: Path, state: dict[str, str]) -> None:
    done = osbundle("build", str(WINDOWS), "-o", str(tmp_path), env=state)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"built {tmp_path}/20231114221320_Custom-2016")
    assert done.stderr == ""  # stderr is not a terminal: no progress output


def test_build_progress_json_lines(tmp_path: Path, state: dict[str, str]) -> None:
    done = osbundle("build", str(WINDOWS), "-o", str(tmp_path), "--progress", "json", env=state)
    events = [json.loads(line) for line in done.stderr.splitlines()]
    assert {"stage", "bytesDone", "bytesTotal", "filesDone", "filesTotal", "percent"} <= set(
        events[-1]
    )
    assert [e["percent"] for e in events] == sorted(e["percent"] for e in events)


def test_a_folder_of_profiles_builds_each(tmp_path: Path, state: dict[str, str]) -> None:
    done = osbundle("build", str(REPO / "profiles"), "-o", str(tmp_path), "--json", env=state)
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) >= 5
    assert all(r["result"] == "success" for r in results)
    assert len(list(tmp_path.glob("*.tar.gz"))) == len(results)


def test_invalid_profile_is_bad_input_with_one_line(tmp_path: Path, state: dict[str, str]) -> None:
    profile = make_profile(tmp_path / "p", {"a.txt": b"a"})
    (profile / "profile.yaml").write_text("name: [unclosed\n")
    done = osbundle("build", str(profile), "-o", str(tmp_path / "out"), env=state)
    assert done.returncode == 2
    line = one_line_error(done)
    assert "profile.yaml:" in line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_failed_build_with_json_says_failed(tmp_path: Path, state: dict[str, str]) -> None:
    profile = make_profile(tmp_path / "p", {"a.txt": b"a"})
    (profile / "a.txt").unlink()
    done = osbundle("build", str(profile), "-o", str(tmp_path / "out"), "--json", env=state)
    assert done.returncode == 2
    result = json.loads(done.stdout)
    assert result["result"] == "failed"
    assert "a.txt" in result["messages"][0]
    job = json.loads(osbundle("tasks", result["jobID"], "--json", env=state).stdout)[0]
    assert job["status"] == "Stopped_With_Error"
    assert job["messages"] == result["messages"]


def test_existing_output_needs_force(tmp_path: Path, state: dict[str, str]) -> None:
    assert osbundle("build", str(WINDOWS), "-o", str(tmp_path), env=state).returncode == 0
    again = osbundle("build", str(WINDOWS), "-o", str(tmp_path), env=state)
    assert again.returncode == 1
    assert "already exists" in one_line_error(again)
    assert (
        osbundle("build", str(WINDOWS), "-o", str(tmp_path), "--force", env=state).returncode == 0
    )


def test_bad_source_date_epoch_is_usage_error(tmp_path: Path, state: dict[str, str]) -> None:
    done = osbundle(
        "build", str(WINDOWS), "-o", str(tmp_path), env=state | {"SOURCE_DATE_EPOCH": "yesterday"}
    )
    assert done.returncode == 2
    assert "SOURCE_DATE_EPOCH" in one_line_error(done)


def test_usage_errors_exit_2() -> None:
    assert osbundle("no-such-command").returncode == 2
    assert osbundle("validate").returncode == 2
    assert osbundle("build", "--compression", "extreme", "x").returncode == 2


def test_missing_path_is_exit_2_with_one_line(tmp_path: Path) -> None:
    done = osbundle("validate", str(tmp_path / "nope"))
    assert done.returncode == 2
    assert "nope" in one_line_error(done)


def test_validate_exit_codes_and_formats(tmp_path: Path) -> None:
    ok = osbundle("validate", str(REPO / "profiles"))
    assert ok.returncode == 0
    assert "all valid" in ok.stdout
    bad = make_profile(tmp_path / "bad", {"a.txt": b"a"})
    (bad / "profile.yaml").write_text(
        (bad / "profile.yaml").read_text().replace('"rhel"', '"beos"')
    )
    text = osbundle("validate", str(bad))
    assert text.returncode == 1
    assert text.stdout.splitlines()[0].startswith(f"{bad / 'profile.yaml'}:")
    as_json = json.loads(osbundle("validate", "--format", "json", str(bad)).stdout)
    assert as_json["valid"] is False
    github = osbundle("validate", str(bad), env={"GITHUB_ACTIONS": "true"})
    assert github.stdout.startswith("::error file=")


def test_plan_writes_nothing_and_fingerprint_is_stable(tmp_path: Path) -> None:
    first = json.loads(osbundle("plan", str(WINDOWS), "--json").stdout)
    second = json.loads(osbundle("plan", str(WINDOWS), "--json").stdout)
    assert first["fingerprint"] == second["fingerprint"]
    assert {m["path"] for m in first["members"]} >= {
        "Custom-2016-datacenter-profile/unattend/autounattend.xml"
    }
    text = osbundle("plan", str(WINDOWS))
    assert text.returncode == 0
    assert f"fingerprint {first['fingerprint']}" in text.stdout


def test_verify_inspect_unpack_round_trip(tmp_path: Path, state: dict[str, str]) -> None:
    built = json.loads(
        osbundle("build", str(WINDOWS), "-o", str(tmp_path / "o"), "--json", env=state).stdout
    )
    bundle = built["path"]
    assert osbundle("verify", bundle).returncode == 0
    assert osbundle("verify", "--fast", bundle).returncode == 0
    info = json.loads(osbundle("inspect", "--json", bundle).stdout)
    assert info["metadata"]["profile"]["name"] == "Custom-2016-datacenter-profile"
    assert osbundle("unpack", bundle, str(tmp_path / "restored")).returncode == 0
    rebuilt = json.loads(
        osbundle(
            "build", str(tmp_path / "restored"), "-o", str(tmp_path / "o2"), "--json", env=state
        ).stdout
    )
    assert Path(rebuilt["path"]).read_bytes() == Path(bundle).read_bytes()


def test_verify_names_a_corrupted_bundle(tmp_path: Path, state: dict[str, str]) -> None:
    built = json.loads(
        osbundle("build", str(WINDOWS), "-o", str(tmp_path), "--json", env=state).stdout
    )
    data = bytearray(Path(built["path"]).read_bytes())
    data[len(data) // 2] ^= 0xFF
    Path(built["path"]).write_bytes(bytes(data))
    done = osbundle("verify", built["path"])
    assert done.returncode == 1
    line = one_line_error(done)
    assert line.startswith(f"osbundle: error: {built['path']}: ")
    assert "Error -" not in line  # zlib's own text


def test_inspect_of_a_malformed_bundle_reports_it_and_exits_1(tmp_path: Path) -> None:
    from tests import bundle_factory as bf

    entries = bf.bundle_entries()
    entries.insert(1, entries[0])
    bundle = bf.write_bundle(tmp_path, bf.gzip_bytes(bf.tar_bytes(entries)))
    done = osbundle("inspect", str(bundle))
    assert done.returncode == 1
    assert done.stderr == f"{bundle}: {entries[0][0]}: duplicate member name\n"
    assert done.stdout.startswith(f"bundle:  {bundle.name}")
    as_json = osbundle("inspect", "--json", str(bundle))
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["problems"] == [f"{entries[0][0]}: duplicate member name"]
    (tmp_path / "good").mkdir()
    assert osbundle("inspect", str(bf.good_bundle(tmp_path / "good"))).returncode == 0


def test_init_makes_a_profile_that_validates_and_builds(
    tmp_path: Path, state: dict[str, str]
) -> None:
    folder = tmp_path / "mine"
    files = WINDOWS_FILES
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    done = osbundle("init", str(folder), "--family", "windows", "--name", "mine")
    assert done.returncode == 0, done.stderr
    assert "other.ps1" in done.stderr  # the note on turning rendering off
    assert osbundle("validate", str(folder)).returncode == 0
    built = osbundle("build", str(folder), "-o", str(tmp_path / "o"), "--json", env=state)
    assert built.returncode == 0, built.stderr
    info = json.loads(osbundle("inspect", "--json", json.loads(built.stdout)["path"]).stdout)
    paths = {m["path"] for m in info["metadata"]["members"]}
    assert {
        "drivers/nic/e1d.inf",
        "boot/WinPE_64.wim",
        "custom/scripts/post.ps1",
        "custom/files/extra/a[1].txt",
        "custom/files/top.txt",
        "custom/files/drivers/readme.txt",
    } <= paths
    again = osbundle("init", str(folder), "--family", "windows", "--name", "mine")
    assert again.returncode == 2
    assert "already exists" in one_line_error(again)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_build_leaves_nothing(tmp_path: Path, state: dict[str, str], sig: int) -> None:
    big = {"big.bin": os.urandom(1 << 20) * 400}  # 400 MiB: long enough to interrupt
    profile = make_profile(tmp_path / "p", big)
    out = tmp_path / "out"
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000") | state
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "osbundle",
            "build",
            str(profile),
            "-o",
            str(out),
            "--compression",
            "best",
            "--threads",
            "1",
        ],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (out.exists() and any(out.glob(".*.tmp-*"))):
        assert time.monotonic() < deadline, "build never started writing"
        assert proc.poll() is None, "build never started writing"
        time.sleep(0.02)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert list(out.iterdir()) == []


def test_plan_names_a_base_profile_s_files_relative_to_the_profile() -> None:
    plan = json.loads(osbundle("plan", str(REPO / "profiles" / "rhel-9"), "--json").stdout)
    sources = {m["source"] for m in plan["members"]}
    assert "../base/rhel-base/scripts/harden.sh" in sources
    assert "unattend/ks.cfg" in sources


# -- exit codes and machine formats, for every command ----------------------------------------

BROKEN_MACRO = "# a typo a validate must catch: #predefined.globalSettings.ipAssignmnet#\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The names the README's exit-code examples use, in one directory: `good/` (a profile that
    builds), `broken/` (one with an unknown macro), `missing`, `a-file`, `damaged.tar.gz` (not
    gzip), `bundle.tar.gz` (built from good/), and jobs 1 (Complete), 2 (Complete, to delete)
    and 3 (Stopped_With_Error)."""
    root = tmp_path_factory.mktemp("world")
    shutil.copytree(REPO / "profiles" / "esxi-8", root / "good")
    shutil.copytree(REPO / "profiles" / "esxi-8", root / "broken")
    with (root / "broken" / "unattend" / "ks.cfg").open("a") as ks:
        ks.write(BROKEN_MACRO)
    (root / "a-file").write_text("not a directory\n")
    (root / "damaged.tar.gz").write_bytes(b"not a gzip file\n")
    env = world_env(root)
    for args in (["good", "-o", "built"], ["good", "-o", "built2"], ["broken", "-o", "built"]):
        osbundle("build", *args, env=env, cwd=root)
    (bundle,) = (root / "built").glob("*.tar.gz")
    shutil.copy(bundle, root / "bundle.tar.gz")
    shutil.copy(f"{bundle}.sha256", root / "bundle.tar.gz.sha256")
    (root / "bundle.tar.gz.sha256").write_text(
        (root / "bundle.tar.gz.sha256").read_text().replace(bundle.name, "bundle.tar.gz")
    )
    return root


def world_env(root: Path) -> dict[str, str]:
    return {"OSBUNDLE_HOME": str(root / "state")}


def run_in(world: Path, command: str) -> subprocess.CompletedProcess[str]:
    words = shlex.split(command)
    assert words[0] == "osbundle"
    return osbundle(*words[1:], env=world_env(world), cwd=world)


# (command, exit code, the option that asks for its machine format or None). Every command, each
# outcome it can have: 0 done, 1 a check or build failed, 2 bad input or usage.
EXIT_CASES = [
    ("osbundle validate good", 0, "--format json"),
    ("osbundle validate broken", 1, "--format json"),
    ("osbundle validate missing", 2, "--format json"),
    ("osbundle validate", 2, "--format json"),
    ("osbundle plan good", 0, "--json"),
    ("osbundle plan broken", 2, "--json"),
    ("osbundle plan missing", 2, "--json"),
    ("osbundle build good -o out-{n}", 0, "--json"),
    ("osbundle build good -o built", 1, "--json"),
    ("osbundle build broken -o out-{n}", 2, "--json"),
    ("osbundle build missing -o out-{n}", 2, "--json"),
    ("osbundle build good -o a-file", 2, "--json"),
    ("osbundle build good -o a-file/sub", 2, "--json"),
    ("osbundle build good -o out-{n} --compression extreme", 2, "--json"),
    ("osbundle build good -o out-{n} --background", 0, None),
    ("osbundle build missing -o out-{n} --background", 2, None),
    ("osbundle init missing --family rhel --name x", 2, None),
    ("osbundle init good --family esxi --name x", 2, None),
    ("osbundle verify bundle.tar.gz", 0, "--json"),
    ("osbundle verify damaged.tar.gz", 1, "--json"),
    ("osbundle verify missing.tar.gz", 2, "--json"),
    ("osbundle inspect bundle.tar.gz", 0, "--json"),
    ("osbundle inspect damaged.tar.gz", 1, "--json"),
    ("osbundle inspect missing.tar.gz", 2, "--json"),
    ("osbundle unpack bundle.tar.gz restored-{n}", 0, None),
    ("osbundle unpack damaged.tar.gz restored-{n}", 1, None),
    ("osbundle unpack missing.tar.gz restored-{n}", 2, None),
    ("osbundle tasks", 0, "--json"),
    ("osbundle tasks 1", 0, "--json"),
    ("osbundle tasks 1 --watch", 0, "--json"),
    ("osbundle tasks 3 --watch", 1, "--json"),
    ("osbundle tasks 9999", 2, "--json"),
    ("osbundle tasks 9999 --watch", 2, "--json"),
    ("osbundle tasks x", 2, "--json"),
    ("osbundle tasks cancel 1", 1, None),
    ("osbundle tasks cancel 9999", 2, None),
    ("osbundle tasks cancel 1 9999", 2, None),
    ("osbundle tasks delete 9999", 2, None),
    ("osbundle tasks delete 2", 0, None),
    ("osbundle tasks prune", 0, None),
    ("osbundle tasks prune --older-than x", 2, None),
    ("osbundle no-such-command", 2, None),
]


def case_id(case: tuple[str, int, str | None]) -> str:
    return f"{case[0].removeprefix('osbundle ')}->{case[1]}"


@pytest.mark.parametrize("case", EXIT_CASES, ids=case_id)
def test_every_command_exits_by_the_table(world: Path, case: tuple[str, int, str | None]) -> None:
    command, code, _ = case
    done = run_in(world, command.format(n=EXIT_CASES.index(case)))
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    if code == 2 and "Usage:" not in done.stderr:  # one line per error, nothing else
        assert all(line.startswith("osbundle: error: ") for line in done.stderr.splitlines())


# `build --background` prints JSON whatever else is asked: its errors are JSON documents too.
MACHINE_CASES = [c for c in EXIT_CASES if c[2]] + [
    ("osbundle build good -o out-{n}", 0, "--background"),
    ("osbundle build missing -o out-{n}", 2, "--background"),
    ("osbundle build good -o a-file", 2, "--background"),
]


@pytest.mark.parametrize("case", MACHINE_CASES, ids=case_id)
def test_a_machine_format_answers_one_json_document_whatever_happens(
    world: Path, case: tuple[str, int, str | None]
) -> None:
    command, code, machine = case
    done = run_in(world, f"{command.format(n=f'json-{MACHINE_CASES.index(case)}')} {machine}")
    assert done.returncode == code, done.stderr
    document = json.loads(done.stdout)
    if code == 0:
        return
    if isinstance(document, list):  # tasks --watch: the jobs, one of which did not complete
        assert any(job["status"] != "Complete" for job in document)
    elif {"valid", "ok"} & set(document):
        assert document.get("valid", document.get("ok")) is False  # the command's own report
    else:
        assert document["result"] == "failed"
        assert document["messages"]
        assert document.get("exitCode", code) == code


def readme_exit_table() -> dict[int, list[str]]:
    """The README's exit-code table: code -> the `osbundle ...` examples of its row."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    rows: dict[int, list[str]] = {}
    for line in text.split("## Exit codes", 1)[1].split("\n## ", 1)[0].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].isdigit():
            rows[int(cells[0])] = re.findall(r"`(osbundle [^`]*)`", cells[-1])
    return rows


def test_the_readme_exit_code_table_is_what_the_commands_do(world: Path) -> None:
    table = readme_exit_table()
    assert set(table) == {0, 1, 2, 130}
    assert {code for _, code, _ in EXIT_CASES} <= set(table)
    for code, examples in table.items():
        assert examples or code in (0, 130)
        for n, command in enumerate(examples):
            done = run_in(world, command.replace("restored/", f"readme-restored-{n}/"))
            assert done.returncode == code, f"README: `{command}` exits {code}: {done.stderr}"


# -- a closed pipe drops output, never the build ----------------------------------------------


PROGRESS = ("--progress", "json")


@pytest.mark.parametrize("closed", ["stderr", "stdout", "both"])
def test_a_closed_pipe_never_fails_the_build(
    tmp_path: Path, state: dict[str, str], closed: str
) -> None:
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000") | state
    proc = subprocess.Popen(
        [sys.executable, "-m", "osbundle", "build", str(WINDOWS), "-o", str(tmp_path), *PROGRESS],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    # Closed before the build writes a byte: its first progress line (or result) hits EPIPE.
    if closed in ("stderr", "both"):
        proc.stderr.close()
    if closed in ("stdout", "both"):
        proc.stdout.close()
    out = b"" if proc.stdout.closed else proc.stdout.read()
    err = b"" if proc.stderr.closed else proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    # 120 would be Python failing to flush a closed stream at exit ("Exception ignored").
    assert proc.wait(timeout=120) == 0, err
    assert b"Exception ignored" not in err
    assert b"Traceback" not in err
    if closed == "stderr":
        assert out.startswith(b"built ")
    (bundle,) = tmp_path.glob("*.tar.gz")
    assert osbundle("verify", str(bundle)).returncode == 0


def test_a_closed_pipe_keeps_a_failed_build_s_exit_code(
    tmp_path: Path, state: dict[str, str]
) -> None:
    profile = make_profile(tmp_path / "p", {"a.txt": b"a"})
    (profile / "a.txt").unlink()
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000") | state
    proc = subprocess.Popen(
        [sys.executable, "-m", "osbundle", "build", str(profile), "-o", str(tmp_path / "out")],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    proc.stderr.close()
    assert proc.wait(timeout=120) == 2


def test_validate_changed_checks_the_profiles_that_depend_on_the_files(tmp_path: Path) -> None:
    shutil.copytree(REPO / "profiles", tmp_path / "profiles")
    ks = tmp_path / "profiles" / "rhel-9" / "unattend" / "ks.cfg"
    ks.write_text(ks.read_text() + BROKEN_MACRO)
    done = osbundle("validate", "--changed", "profiles/base/rhel-base/profile.yaml", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout.startswith("profiles/rhel-9/unattend/ks.cfg:")
    assert done.stdout.endswith("1 error in 1 of 2 profiles\n")
    unrelated = osbundle("validate", "--changed", "README.md", "--format", "json", cwd=tmp_path)
    assert unrelated.returncode == 0
    assert json.loads(unrelated.stdout) == {"valid": True, "profiles": []}
    nowhere = osbundle("validate", "--changed", "x", "--root", "nope", cwd=tmp_path)
    assert nowhere.returncode == 2
    assert "nope" in one_line_error(nowhere)


@pytest.mark.parametrize(("profile", "code"), [("good", 0), ("broken", 1)])
def test_a_check_s_exit_code_survives_a_closed_stdout(world: Path, profile: str, code: int) -> None:
    for command in (["validate", profile], ["verify", "bundle.tar.gz", "--json"]):
        proc = subprocess.Popen(
            [sys.executable, "-m", "osbundle", *command],
            cwd=world,
            env=dict(os.environ) | world_env(world),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.close()
        err = proc.stderr.read()
        proc.stderr.close()
        expected = code if command[0] == "validate" else 0
        assert proc.wait(timeout=60) == expected, err
        assert err == b""


@pytest.mark.parametrize(
    ("argv", "machine"),
    [
        (["verify", "--json", "x"], True),
        (["validate", "--format", "json", "x"], True),
        (["validate", "-f", "json", "x"], True),
        (["validate", "--format=json", "x"], True),
        (["validate", "--format", "github", "json"], False),
        (["build", "x", "--background"], True),
        (["validate", "--", "--json"], False),  # a path named --json
        (["plan", "x"], False),
    ],
)
def test_which_command_lines_ask_for_a_machine_format(argv: list[str], machine: bool) -> None:
    from osbundle.cli.outcome import wants_json

    assert wants_json(argv) is machine


def test_a_lone_checksum_needs_force_too(tmp_path: Path, state: dict[str, str]) -> None:
    out = tmp_path / "out"
    assert osbundle("build", str(WINDOWS), "-o", str(out), env=state).returncode == 0
    [bundle] = out.glob("*.tar.gz")
    bundle.unlink()  # its .sha256 stays
    checksum = out / (bundle.name + ".sha256")
    checksum.write_text("someone else's\n")
    again = osbundle("build", str(WINDOWS), "-o", str(out), env=state)
    assert again.returncode == 1
    assert one_line_error(again) == (
        f"osbundle: error: {checksum} already exists (use --force to overwrite it)"
    )
    assert sorted(p.name for p in out.iterdir()) == [checksum.name]
    assert checksum.read_text() == "someone else's\n"
    forced = osbundle("build", str(WINDOWS), "-o", str(out), "--force", env=state)
    assert forced.returncode == 0
    assert checksum.read_text().endswith(f"  {bundle.name}\n")


def test_out_of_memory_is_one_line_not_an_internal_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from osbundle.cli import app
    from osbundle.profile import validate

    def exhausted(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(validate, "check_paths", exhausted)
    monkeypatch.setattr(sys, "argv", ["osbundle", "validate", "profiles"])
    with pytest.raises(SystemExit) as exit_:
        app.main()
    assert exit_.value.code == 1
    assert capsys.readouterr().err == (
        "osbundle: error: out of memory while running validate (free memory or raise the limit)\n"
    )


OOM_SCRIPT = """
import resource, sys
from osbundle.cli import app
from osbundle.profile import validate  # imported before the limit: only the work is limited
with open("/proc/self/status") as status:
    size = next(int(l.split()[1]) * 1024 for l in status if l.startswith("VmSize:"))
limit = size + 24 * 1024 * 1024
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sys.argv = ["osbundle", "validate", sys.argv[1]]
app.main()
"""


def test_a_memory_limit_gives_one_line_and_exit_1(tmp_path: Path) -> None:
    """Under RLIMIT_AS, reading a 15 MiB settings value cannot be done: one line, exit 1."""
    big = json.dumps({"v": "x" * (15 * 1024 * 1024)}).encode()
    profile = make_profile(
        tmp_path / "p",
        {"s.json": big, "x.sh": b"echo #s.v#\n"},
        lists={"settings": ["s.json"], "scripts": ["x.sh"]},
    )
    done = subprocess.run(
        [sys.executable, "-c", OOM_SCRIPT, str(profile)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert one_line_error(done) == (
        "osbundle: error: out of memory while running validate (free memory or raise the limit)"
    )


@pytest.mark.parametrize(
    ("command", "usage", "missing"),
    [
        (["build"], "build [OPTIONS] PROFILE_DIR...", "PROFILE_DIR..."),
        (["validate"], "validate [OPTIONS] PATH...", "PATH..."),
        (["plan"], "plan [OPTIONS] PROFILE_DIR", "PROFILE_DIR"),
        (["init", "--family", "rhel", "--name", "x"], "init [OPTIONS] DIRECTORY", "DIRECTORY"),
        (["verify"], "verify [OPTIONS] BUNDLE", "BUNDLE"),
        (["inspect"], "inspect [OPTIONS] BUNDLE", "BUNDLE"),
        (["unpack", "b.tar.gz"], "unpack [OPTIONS] BUNDLE DEST", "DEST"),
        (["tasks", "cancel"], "tasks cancel [OPTIONS] JOBID...", "JOBID..."),
        (["tasks", "delete"], "tasks delete [OPTIONS] JOBID...", "JOBID..."),
    ],
)
def test_usage_errors_name_arguments_as_the_help_does(
    command: list[str], usage: str, missing: str
) -> None:
    done = osbundle(*command)
    assert done.returncode == 2
    assert f" {usage}\n" in done.stderr
    assert f"Error: Missing argument '{missing}'." in done.stderr
    assert "{" not in done.stderr
    helped = osbundle(*command[: 2 if command[0] == "tasks" else 1], "--help")
    assert missing in helped.stdout
    assert "{" not in helped.stdout


def test_debug_is_accepted_after_the_command(tmp_path: Path) -> None:
    missing = str(tmp_path / "nothing")
    for args in (["--debug", "validate", missing], ["validate", "--debug", missing]):
        done = osbundle(*args)
        assert done.returncode != 0
        assert "Traceback" in done.stderr, args
    plain = osbundle("validate", missing)
    assert "Traceback" not in plain.stderr
    after_dashes = osbundle("validate", "--", "--debug")
    assert "Traceback" not in after_dashes.stderr  # a path named --debug, not the option
    assert "--debug" in one_line_error(after_dashes)


def test_init_with_a_bad_name_names_the_option_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("x\n")
    done = osbundle("init", str(tmp_path), "--family", "rhel", "--name", "bad name")
    assert done.returncode == 2
    assert one_line_error(done).startswith("osbundle: error: --name 'bad name': a name is ")
    assert "profile.yaml" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]


def test_each_failed_build_of_many_names_its_profile_once(
    tmp_path: Path, state: dict[str, str]
) -> None:
    for name in ("a", "b", "c"):
        shutil.copytree(REPO / "profiles" / "esxi-8", tmp_path / "p" / name)
    with (tmp_path / "p" / "b" / "unattend" / "ks.cfg").open("a") as ks:
        ks.write(BROKEN_MACRO)
    done = osbundle("build", "p", "-o", "out", "--progress", "none", env=state, cwd=tmp_path)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("osbundle: error:")]
    assert errors[0].startswith("osbundle: error: p/b/unattend/ks.cfg:")  # named by the message
    assert errors[1] == (  # a and c make one bundle name: the second is named by its profile
        f"osbundle: error: p/c: {tmp_path}/out/20231114221320_ESXi-8.0U2-compute-host.tar.gz "
        "already exists (use --force to overwrite it)"
    )
    assert len(errors) == 2
