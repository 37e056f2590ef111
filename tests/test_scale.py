"""Issue 12 (scale): the member inventory is not held in memory.

A 200,000-member profile must build, validate and plan in about the memory of a 2,000-member
one: the large run's peak RSS may exceed the small run's by at most 32 MiB (on the code before
issue 12 it grew by about 2.3 KB a member: 400+ MiB). Each command runs in a fresh child
through `tests.bigprofile.peak_rss`, so the figure is the command's own, not pytest's. These
are memory bounds, not timings; the module shares one generated profile of each size.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bigprofile import make_profile, peak_rss

pytestmark = pytest.mark.slow

SMALL, LARGE = 2_000, 200_000
MAX_GROWTH_MIB = 32
OSBUNDLE = [sys.executable, "-m", "osbundle"]


@pytest.fixture(scope="module")
def profiles(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("scale")
    return {count: make_profile(root / f"n{count}", count) for count in (SMALL, LARGE)}


def command(name: str, profile: Path, out: Path) -> list[str]:
    options = {
        "validate": ["validate", str(profile)],
        "plan": ["plan", str(profile)],
        "plan --json": ["plan", "--json", str(profile)],
        "build": ["build", str(profile), "-o", str(out), "--force", "--progress", "none"],
    }
    return [*OSBUNDLE, *options[name]]


def test_the_launcher_reports_the_commands_own_peak_not_its_parents() -> None:
    ballast = bytearray(256 << 20)  # this process's high-water mark: over 256 MiB
    ballast[:: 1 << 12] = b"\1" * len(range(0, len(ballast), 1 << 12))
    usage = peak_rss([sys.executable, "-c", "pass"])
    assert usage.status == 0
    assert usage.maxrss_mib < 64, usage
    del ballast


def measure(name: str, profiles: dict[int, Path], out: Path) -> dict[int, float]:
    """Peak RSS (MiB) of `name` on each profile, each run in a fresh child."""
    peaks = {}
    for count, profile in profiles.items():
        usage = peak_rss(command(name, profile, out / f"n{count}"))
        assert usage.status == 0, usage.stderr
        peaks[count] = usage.maxrss_mib
    return peaks


def assert_bounded(name: str, peaks: dict[int, float]) -> None:
    growth = peaks[LARGE] - peaks[SMALL]
    figures = (
        f"{name}: {peaks[SMALL]:.1f} MiB at {SMALL:,} members, {peaks[LARGE]:.1f} at {LARGE:,}"
    )
    assert peaks[SMALL] < 128, figures  # the child's own figure, not pytest's
    assert growth <= MAX_GROWTH_MIB, f"{figures}: +{growth:.1f} MiB (at most {MAX_GROWTH_MIB})"


@pytest.fixture(scope="module")
def builds(
    profiles: dict[int, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[int, float], Path]]:
    """Both profiles built once: the peaks and the output directory (n<count>/ in it)."""
    out = tmp_path_factory.mktemp("scale-out")
    with pytest.MonkeyPatch.context() as patch:
        # A module fixture is set up before the per-test isolated home: its own, here.
        patch.setenv("OSBUNDLE_HOME", str(tmp_path_factory.mktemp("scale-state")))
        patch.setenv("SOURCE_DATE_EPOCH", "1700000000")
        yield measure("build", profiles, out), out


@pytest.mark.parametrize("name", ["validate", "plan", "plan --json"])
def test_peak_rss_does_not_grow_with_the_member_count(
    name: str, profiles: dict[int, Path], tmp_path: Path
) -> None:
    assert_bounded(name, measure(name, profiles, tmp_path))


def test_the_build_peak_rss_does_not_grow_with_the_member_count(
    builds: tuple[dict[int, float], Path],
) -> None:
    assert_bounded("build", builds[0])


def test_the_large_bundle_verifies_with_every_member(
    builds: tuple[dict[int, float], Path],
) -> None:
    (bundle,) = (builds[1] / f"n{LARGE}").glob("*.tar.gz")
    verify = subprocess.run(
        [*OSBUNDLE, "verify", "--json", str(bundle)], capture_output=True, check=False
    )
    report = json.loads(verify.stdout)
    assert verify.returncode == 0, report
    assert report["ok"] is True
    assert report["checked"] == LARGE + 2  # the files, metadata.json and SHA256SUMS
