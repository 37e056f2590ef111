from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.factory import REPO, make_profile
from tests.profile.helpers import WINDOWS_FILES

WINDOWS = REPO / "profiles" / "windows-2016-datacenter"


def osbundle(
    *args: str, env: dict[str, str] | None = None, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000", NO_COLOR="1") | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "osbundle", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        check=False,
        timeout=120,
    )


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
