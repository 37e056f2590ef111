"""Signals and builds: the guard that turns a stop signal into Cancelled, holds, shields, forks."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from osbundle.errors import Cancelled
from osbundle.interrupts import (
    STOP_SIGNALS,
    SignalGuard,
    active_guard,
    cancel_on_signals,
    install_signal_handlers,
    rearm,
    release_all,
    restore_signal_handlers,
    settle,
    shielded,
    signals_held,
)

needs_sigmask = pytest.mark.skipif(
    not hasattr(signal, "pthread_sigmask"), reason="signals can only be held with pthread_sigmask"
)
needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")


class Interrupted(Exception):
    pass


def interrupt(signum: int, frame: FrameType | None) -> None:
    raise Interrupted


@pytest.fixture
def guard_cleanup() -> Iterator[None]:
    yield
    restore_signal_handlers()


@pytest.fixture
def usr1_interrupts() -> Iterator[None]:
    """SIGUSR1 raises Interrupted for the test, and is what it was afterwards."""
    previous = signal.signal(signal.SIGUSR1, interrupt)
    yield
    signal.signal(signal.SIGUSR1, previous)


def blocked() -> set[int]:
    return set(signal.pthread_sigmask(signal.SIG_BLOCK, ()))


def test_the_stop_signals() -> None:
    assert STOP_SIGNALS == (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


# Restored from 81e6710:tests/stages/test_export.py. Its two sleeps (there for the signal to be
# delivered) are gone: a signal sent to this process is delivered before os.kill returns unless
# it is held, and `pthread_sigmask` runs the Python handler of a signal it unblocks before it
# returns, so nothing needs waiting for. Held is shown by `sigpending` instead.
@needs_sigmask
def test_signals_held_arrive_when_the_block_ends() -> None:
    previous = signal.signal(signal.SIGINT, interrupt)
    reached_end = False
    try:
        with pytest.raises(Interrupted), signals_held():  # noqa: PT012 (where it is raised)
            os.kill(os.getpid(), signal.SIGINT)
            assert signal.SIGINT in signal.sigpending()  # held, not delivered
            reached_end = True
    finally:
        signal.signal(signal.SIGINT, previous)
    assert reached_end
    assert signal.SIGINT not in signal.sigpending()


@needs_sigmask
def test_signals_held_restores_the_mask_it_found(usr1_interrupts: None) -> None:
    before = blocked()
    with signals_held():
        assert set(STOP_SIGNALS) <= blocked()
        with signals_held():  # nested: the inner end does not release the outer hold
            pass
        assert set(STOP_SIGNALS) <= blocked()
    assert blocked() == before


@needs_sigmask
def test_signals_held_does_not_hold_other_signals(usr1_interrupts: None) -> None:
    with signals_held(), pytest.raises(Interrupted):
        os.kill(os.getpid(), signal.SIGUSR1)  # not a stop signal: arrives at once


# Restored from 81e6710:tests/test_worker.py (imports from osbundle.interrupts now). Its sleeps
# are gone for the reason given above: the handler has run when os.kill returns.
def test_signal_guard_raises_once_and_defers_inside_shield(guard_cleanup: None) -> None:
    before = signal.getsignal(signal.SIGUSR1)
    guard = install_signal_handlers((signal.SIGUSR1,))
    with guard.shield():
        os.kill(os.getpid(), signal.SIGUSR1)
    assert guard.should_stop()  # recorded, not raised: the build stops at its next check
    os.kill(os.getpid(), signal.SIGUSR1)  # later signals never interrupt the cleanup
    restore_signal_handlers()
    assert signal.getsignal(signal.SIGUSR1) == before

    install_signal_handlers((signal.SIGUSR1,))
    with pytest.raises(Cancelled, match="SIGUSR1"):
        signal.raise_signal(signal.SIGUSR1)


def test_the_first_signal_outside_a_shield_raises_cancelled_naming_it(guard_cleanup: None) -> None:
    guard = install_signal_handlers((signal.SIGUSR1, signal.SIGUSR2))
    assert not guard.should_stop()
    with pytest.raises(Cancelled, match="interrupted by SIGUSR2") as caught:
        os.kill(os.getpid(), signal.SIGUSR2)
    assert caught.value.exit_code == 130
    assert guard.received == signal.SIGUSR2
    os.kill(os.getpid(), signal.SIGUSR1)  # the second one is only recorded
    assert guard.received == signal.SIGUSR1
    assert guard.should_stop()


def test_cancel_on_signals_installs_the_stop_signals_and_restores_them() -> None:
    before = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    with cancel_on_signals() as guard:
        assert active_guard() is guard
        for sig in STOP_SIGNALS:
            assert signal.getsignal(sig) == guard._handle
    assert active_guard() is None
    assert {sig: signal.getsignal(sig) for sig in STOP_SIGNALS} == before


def test_cancel_on_signals_restores_the_previous_handlers_when_the_block_raises(
    usr1_interrupts: None,
) -> None:
    seen: list[object] = []

    def failing_block() -> None:
        with cancel_on_signals((signal.SIGUSR1,)) as guard:
            seen.append(signal.getsignal(signal.SIGUSR1) == guard._handle)
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        failing_block()
    assert seen == [True]  # the guard's handler was in place inside the block
    assert signal.getsignal(signal.SIGUSR1) is interrupt
    assert active_guard() is None
    with pytest.raises(Interrupted):  # the test's own handler is back in charge
        os.kill(os.getpid(), signal.SIGUSR1)


def test_cancel_on_signals_restores_the_handlers_after_the_cancel_it_raised(
    usr1_interrupts: None,
) -> None:
    with pytest.raises(Cancelled), cancel_on_signals((signal.SIGUSR1,)):
        os.kill(os.getpid(), signal.SIGUSR1)
    assert signal.getsignal(signal.SIGUSR1) is interrupt
    assert active_guard() is None


def test_active_guard_is_the_one_installed_last(guard_cleanup: None) -> None:
    restore_signal_handlers()
    assert active_guard() is None
    before = signal.getsignal(signal.SIGUSR1)
    first = install_signal_handlers((signal.SIGUSR1,))
    assert active_guard() is first
    second = install_signal_handlers((signal.SIGUSR1,))  # replaces the first, not stacked on it
    assert active_guard() is second
    assert second is not first
    restore_signal_handlers()
    assert active_guard() is None
    assert signal.getsignal(signal.SIGUSR1) == before  # not the first guard's handler
    restore_signal_handlers()  # idempotent
    assert active_guard() is None


def test_shielded_without_a_guard_shields_nothing(usr1_interrupts: None) -> None:
    restore_signal_handlers()
    assert active_guard() is None
    with shielded(), pytest.raises(Interrupted):
        os.kill(os.getpid(), signal.SIGUSR1)  # not deferred: raised inside the block


def test_shielded_with_a_guard_records_the_signal_for_should_stop() -> None:
    with cancel_on_signals((signal.SIGUSR1,)) as guard:
        with shielded():
            os.kill(os.getpid(), signal.SIGUSR1)
            reached = True
        assert reached
        assert guard.should_stop()
        assert guard.received == signal.SIGUSR1


def test_shields_nest_and_the_guard_raises_again_once_all_have_ended() -> None:
    with cancel_on_signals((signal.SIGUSR1,)) as guard:
        with shielded(), shielded():
            pass
        with guard.shield():
            with shielded():
                pass
            assert guard._shield_depth == 1  # the inner end leaves the outer shield up
        assert guard._shield_depth == 0
        with pytest.raises(Cancelled):
            os.kill(os.getpid(), signal.SIGUSR1)


def test_a_shield_ends_even_when_its_block_raises() -> None:
    guard = SignalGuard()
    with pytest.raises(ValueError, match="x"), guard.shield():
        raise ValueError("x")
    assert guard._shield_depth == 0


def test_a_guard_that_was_never_installed_changes_no_handler() -> None:
    before = signal.getsignal(signal.SIGUSR1)
    guard = SignalGuard()
    guard.restore()
    assert signal.getsignal(signal.SIGUSR1) == before
    assert not guard.should_stop()


def child_reports(release: bool) -> int:
    """In a child forked inside `signals_held()`: 0 if a SIGTERM it sends itself arrives only
    after `release_all` (or stays held without it), 1 if it arrived while it should be held,
    2 if it did not arrive once released, 3 if it was not even pending."""
    arrived: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: arrived.append(signum))
    os.kill(os.getpid(), signal.SIGTERM)
    if arrived:
        return 1
    if signal.SIGTERM not in signal.sigpending():
        return 3
    if not release:
        return 0
    release_all()
    return 0 if arrived == [signal.SIGTERM] else 2


def fork_held_child(release: bool) -> int:
    with signals_held():
        pid = os.fork()
        if pid == 0:  # pragma: no cover (the child's coverage is not collected)
            code = 4
            try:
                code = child_reports(release)
            finally:
                os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status), status
    return os.WEXITSTATUS(status)


@needs_fork
@needs_sigmask
def test_a_child_forked_while_signals_are_held_inherits_the_hold() -> None:
    assert fork_held_child(release=False) == 0


@needs_fork
@needs_sigmask
def test_release_all_in_a_forked_child_lets_held_signals_arrive() -> None:
    assert fork_held_child(release=True) == 0
    assert signal.SIGTERM not in signal.sigpending()  # the parent was not signalled


def test_a_nested_cancel_on_signals_leaves_the_outer_guard_in_place() -> None:
    with cancel_on_signals() as outer:
        with cancel_on_signals() as inner:
            assert inner is outer
        assert active_guard() is outer
        assert signal.getsignal(signal.SIGINT) == outer._handle
    assert active_guard() is None


def test_a_settled_guard_records_the_signal_until_rearmed() -> None:
    with cancel_on_signals() as guard:
        settle()
        os.kill(os.getpid(), signal.SIGTERM)  # after the publish: recorded, not raised
        assert guard.received == signal.SIGTERM
        rearm()
        os.kill(os.getpid(), signal.SIGTERM)  # not the first any more: still only recorded
        assert guard.should_stop()
    with cancel_on_signals():
        settle()
        rearm()
        with pytest.raises(Cancelled, match="interrupted by SIGHUP"):
            os.kill(os.getpid(), signal.SIGHUP)


def test_settle_and_rearm_without_a_guard_do_nothing() -> None:
    settle()
    rearm()
    assert active_guard() is None
