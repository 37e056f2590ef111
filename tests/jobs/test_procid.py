"""Process identity: /proc stat parsing, live/zombie/dead processes, and no signal to a stranger."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osbundle.jobs import procid
from osbundle.jobs.procid import ProcessId, current, identify, is_alive, parse_stat, send_signal

HAS_PROC = Path("/proc/self/stat").is_file()
needs_proc = pytest.mark.skipif(not HAS_PROC, reason="needs Linux /proc")
needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
needs_waitid = pytest.mark.skipif(not hasattr(os, "waitid"), reason="needs os.waitid")


def stat_line(comm: str, state: str = "S", starttime: str = "383623", extra: int = 30) -> str:
    """A /proc/<pid>/stat line: pid, (comm), state, 18 fields, starttime (field 22), more."""
    middle = " ".join(str(n) for n in range(4, 22))
    tail = " ".join("0" for _ in range(extra))
    return f"4242 ({comm}) {state} {middle} {starttime} {tail}".rstrip() + "\n"


class Child:
    """A forked child that blocks until `finish` (or, on `rename`, takes a new command name
    first). The test waits on it with os.waitpid; nothing is left running or unreaped."""

    def __init__(self) -> None:
        go_r, self._go = os.pipe()
        self._ready, ready_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover (runs in the child)
            code = 1
            try:
                os.close(self._go)
                os.close(self._ready)
                while True:
                    name = os.read(go_r, 64)
                    if not name:
                        code = 0
                        break
                    Path("/proc/self/comm").write_bytes(name)
                    os.write(ready_w, b"!")
            finally:
                os._exit(code)
        os.close(go_r)
        os.close(ready_w)
        self.status: int | None = None

    def rename(self, name: bytes) -> None:
        os.write(self._go, name)
        assert os.read(self._ready, 1) == b"!"

    def finish(self) -> None:
        """Let it exit (it stays a zombie until `reap`)."""
        if self._go >= 0:
            os.close(self._go)
            self._go = -1

    def wait_exited(self) -> None:
        """Block until it has exited, without reaping it: a zombie."""
        self.finish()
        os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)

    def reap(self) -> int:
        self.finish()
        if self.status is None:
            _, self.status = os.waitpid(self.pid, 0)
            os.close(self._ready)
        return self.status


@pytest.fixture
def child() -> Iterator[Child]:
    if not hasattr(os, "fork"):
        pytest.skip("needs os.fork")
    c = Child()
    try:
        yield c
    finally:
        c.reap()


# -- parse_stat ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "comm",
    ["python3", "my prog", "a)b", "(x)", ") S 1 2 3 (", "a) (b c) d", "", " ", "x\ny"],
)
def test_parse_stat_counts_fields_from_the_last_parenthesis(comm: str) -> None:
    assert parse_stat(stat_line(comm, "R", "98765")) == ("R", "98765")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "4242",
        "4242 (name",  # no closing parenthesis
        "4242 (name) S 1 2 3",  # too few fields
        stat_line("x", starttime="12a"),  # starttime not a number
        stat_line("x", starttime="-5"),
        stat_line("x", extra=0).replace(" 383623", ""),  # one field short of starttime
    ],
)
def test_parse_stat_refuses_malformed_text(text: str) -> None:
    assert parse_stat(text) is None


def test_parse_stat_needs_exactly_up_to_starttime() -> None:
    assert parse_stat(stat_line("x", extra=0)) == ("S", "383623")


@needs_proc
def test_parse_stat_reads_this_process_s_stat() -> None:
    parsed = parse_stat(Path(f"/proc/{os.getpid()}/stat").read_text())
    assert parsed is not None
    state, start = parsed
    assert state == "R"  # reading its own stat, it is running
    assert int(start) > 0


@given(
    comm=st.text(),
    state=st.sampled_from("RSDZTtXxIP"),
    starttime=st.integers(0, 2**64).map(str),
    extra=st.integers(0, 40),
)
def test_any_command_name_survives_parse_stat(
    comm: str, state: str, starttime: str, extra: int
) -> None:
    assert parse_stat(stat_line(comm, state, starttime, extra)) == (state, starttime)


# -- identify, current, is_alive -----------------------------------------------------------


@pytest.mark.parametrize("pid", [0, -1, -os.getpid()])
def test_no_identity_for_pids_that_name_no_single_process(pid: int) -> None:
    assert identify(pid) is None


@needs_proc
def test_current_is_this_process_in_this_boot() -> None:
    me = current()
    assert me.pid == os.getpid()
    assert me == identify(os.getpid())
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    parsed = parse_stat(Path("/proc/self/stat").read_text())
    assert parsed is not None
    assert me.start == f"{boot_id}:{parsed[1]}"
    assert is_alive(me)


@needs_proc
@needs_fork
@needs_waitid
def test_a_live_child_then_a_zombie_then_a_reaped_one(child: Child) -> None:
    ident = identify(child.pid)
    assert ident is not None
    assert ident.pid == child.pid
    assert ident.start != current().start  # started after this process
    assert is_alive(ident)
    assert is_alive(ProcessId(child.pid, ""))  # no start to compare: the pid decides

    child.wait_exited()
    assert identify(child.pid) is None  # a zombie counts as dead
    assert not is_alive(ident)

    status = child.reap()
    assert os.WIFEXITED(status)
    assert os.WEXITSTATUS(status) == 0
    assert not is_alive(ident)
    now = identify(child.pid)
    assert now is None or now.start != ident.start  # gone, or the pid is someone else's now


@needs_proc
@needs_fork
def test_a_recycled_pid_is_not_the_process_that_had_it(child: Child) -> None:
    ident = identify(child.pid)
    assert ident is not None
    assert not is_alive(ProcessId(child.pid, ident.start + "0"))
    assert not is_alive(ProcessId(child.pid, "other-boot:" + ident.start.split(":")[1]))


@needs_proc
@needs_fork
def test_identity_survives_a_command_name_with_spaces_and_parentheses(child: Child) -> None:
    before = identify(child.pid)
    child.rename(b") Z 1 (x y")
    stat = Path(f"/proc/{child.pid}/stat").read_text()
    assert "() Z 1 (x y)" in stat  # the kernel shows the hostile name as written
    assert identify(child.pid) == before  # neither dead (the "Z") nor another start time
    assert before is not None
    assert is_alive(before)


@needs_proc
def test_zombie_and_dead_states_in_stat_are_not_alive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(procid, "_PROC", tmp_path)  # no sys/kernel/random/boot_id here
    (tmp_path / "4242").mkdir()
    stat = tmp_path / "4242" / "stat"
    for state in ("Z", "X", "x"):
        stat.write_text(stat_line("w", state))
        assert identify(4242) is None, state
    stat.write_text(stat_line("w", "S", "777"))
    assert identify(4242) == ProcessId(4242, ":777")
    stat.write_text("garbage")
    assert identify(4242) is None
    assert identify(4243) is None  # no such entry


def test_without_proc_a_pid_is_checked_with_kill_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(procid, "_PROC", tmp_path / "no-proc")
    assert identify(os.getpid()) == ProcessId(os.getpid(), "")
    assert current() == ProcessId(os.getpid(), "")
    assert is_alive(current())


@needs_fork
def test_without_proc_a_reaped_child_is_dead(
    child: Child, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(procid, "_PROC", tmp_path / "no-proc")
    ident = identify(child.pid)
    assert ident == ProcessId(child.pid, "")
    child.reap()
    assert identify(child.pid) is None
    assert not is_alive(ident)


# -- send_signal --------------------------------------------------------------------------


@pytest.fixture(params=["pidfd", "kill"])
def signal_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """send_signal with pidfd where the platform has it, and the kill(2) fallback."""
    if request.param == "kill":
        monkeypatch.delattr(os, "pidfd_open", raising=False)
    elif not hasattr(os, "pidfd_open") or not hasattr(signal, "pidfd_send_signal"):
        pytest.skip("no pidfd on this platform")
    return str(request.param)


@needs_proc
@needs_fork
def test_send_signal_refuses_an_identity_whose_start_does_not_match(
    child: Child, signal_path: str
) -> None:
    ident = identify(child.pid)
    assert ident is not None
    impostor = ProcessId(child.pid, ident.start + "0")  # same pid, another process's start
    assert send_signal(impostor, signal.SIGTERM) is False
    status = child.reap()
    assert os.WIFEXITED(status), "the child was signalled"
    assert os.WEXITSTATUS(status) == 0


@needs_proc
@needs_fork
def test_send_signal_reaches_the_process_it_names(child: Child, signal_path: str) -> None:
    ident = identify(child.pid)
    assert ident is not None
    assert send_signal(ident, signal.SIGTERM) is True
    status = child.reap()
    assert os.WIFSIGNALED(status)
    assert os.WTERMSIG(status) == signal.SIGTERM


@needs_proc
@needs_fork
@needs_waitid
def test_send_signal_sends_nothing_to_a_zombie_or_a_reaped_child(
    child: Child, signal_path: str
) -> None:
    ident = identify(child.pid)
    assert ident is not None
    child.wait_exited()
    assert send_signal(ident, signal.SIGTERM) is False
    status = child.reap()
    assert os.WIFEXITED(status)  # it ended by exiting, not by a signal
    assert send_signal(ident, signal.SIGTERM) is False
