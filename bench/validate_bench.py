"""Benchmark `osbundle validate` against `check-jsonschema` on 1,000 generated profiles.

Both tools run as one subprocess over the whole corpus, `--runs` times each (after one untimed
warm-up run each, so both see a warm page cache), interleaved so that drift in machine load hits
both alike. Every run must report all profiles valid: timing a failure would be meaningless.

    python bench/validate_bench.py [--count 1000] [--runs 5] [--seed 1] [--markdown]

The corpus goes to bench/.work/validate/ and is regenerated when count or seed change.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

if __package__ in (None, ""):  # run as a script: make the `bench` namespace package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.gen_profiles import generate

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "validate"
SCHEMA = ROOT / "osbundle" / "schemas" / "profile.schema.json"
TARGET_RATIO = 0.5
GENERATOR_VERSION = 2  # bump when gen_profiles changes what it writes


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds per run, and CPU seconds (user + system) of the child per run."""

    label: str
    command: str
    seconds: tuple[float, ...]
    cpu: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


def tool(name: str) -> str:
    """`name` from this interpreter's bin directory (the venv), else from PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"validate_bench: `{name}` not found (pip install -e '.[bench]')")
    return found


def corpus(count: int, seed: int) -> list[Path]:
    """The profile files of the corpus, generating it unless an identical one is in place."""
    stamp = WORK / "corpus.json"
    wanted = {"count": count, "seed": seed, "generator": GENERATOR_VERSION}
    corpus_dir = WORK / "profiles"
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        files = sorted(corpus_dir.glob("*/profile.yaml"))
        if len(files) == count:
            return files
    shutil.rmtree(WORK, ignore_errors=True)
    started = time.perf_counter()
    files = generate(corpus_dir, count, seed)
    stamp.write_text(json.dumps(wanted) + "\n")
    print(f"generated {count} profiles in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return files


def run_once(argv: Sequence[str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall seconds, child CPU seconds, and the finished process."""
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"} | {"NO_COLOR": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc


def check_osbundle(proc: subprocess.CompletedProcess[str], count: int) -> None:
    """The run must have validated exactly `count` profiles, all valid (its summary line)."""
    expected = f"validated {count} profiles: all valid"
    if proc.returncode != 0 or proc.stdout.strip().splitlines()[-1:] != [expected]:
        fail("osbundle validate", proc)


def check_jsonschema_ok(proc: subprocess.CompletedProcess[str]) -> None:
    if proc.returncode != 0 or "ok -- validation done" not in proc.stdout:
        fail("check-jsonschema", proc)


def fail(label: str, proc: subprocess.CompletedProcess[str]) -> NoReturn:
    tail = (proc.stdout[-2000:] + proc.stderr[-2000:]).strip()
    raise SystemExit(
        f"{label} did not report every profile valid (exit {proc.returncode}):\n{tail}"
    )


def measure(files: list[Path], runs: int) -> tuple[Timing, Timing]:
    n = len(files)
    osb = [tool("osbundle"), "validate", str(files[0].parent.parent)]
    cjs = [tool("check-jsonschema"), "--schemafile", str(SCHEMA), *map(str, files)]
    wall: dict[str, list[float]] = {"osbundle": [], "check-jsonschema": []}
    cpu: dict[str, list[float]] = {"osbundle": [], "check-jsonschema": []}
    for i in range(runs + 1):  # run 0 is the untimed warm-up
        for label, argv in (("osbundle", osb), ("check-jsonschema", cjs)):
            seconds, cpu_seconds, proc = run_once(argv)
            if label == "osbundle":
                check_osbundle(proc, n)
            else:
                check_jsonschema_ok(proc)
            if i:
                wall[label].append(seconds)
                cpu[label].append(cpu_seconds)
    commands = {
        "osbundle": f"osbundle validate <dir of {n}>",
        "check-jsonschema": f"check-jsonschema --schemafile profile.schema.json <{n} files>",
    }
    osb_t, cjs_t = (
        Timing(label, commands[label], tuple(wall[label]), tuple(cpu[label]))
        for label in ("osbundle", "check-jsonschema")
    )
    return osb_t, cjs_t


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}), " + (
        f"Python {platform.python_version()}"
    )


def report(osb: Timing, cjs: Timing, count: int, markdown: bool) -> str:
    ratio = osb.median / cjs.median
    cpu_ratio = osb.cpu_median / cjs.cpu_median
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    rows = [
        (t.command, len(t.seconds), t.median, min(t.seconds), max(t.seconds), t.cpu_median)
        for t in (osb, cjs)
    ]
    summary = (
        f"ratio osbundle / check-jsonschema (wall medians): {ratio:.2f} ({verdict} the "
        f"<= {TARGET_RATIO} target); CPU-time ratio {cpu_ratio:.2f}; {count} profiles, every run "
        f"reported all valid; {machine()}"
    )
    if not markdown:
        lines = [
            f"{c}: runs {n}, median {m:.3f} s, min {lo:.3f} s, max {hi:.3f} s, CPU {cp:.3f} s"
            for c, n, m, lo, hi, cp in rows
        ]
        return "\n".join([*lines, summary])
    return "\n".join(
        [
            "| command | runs | median (s) | min (s) | max (s) | median CPU (s) |",
            "|---|---:|---:|---:|---:|---:|",
            *(
                f"| `{c}` | {n} | {m:.3f} | {lo:.3f} | {hi:.3f} | {cp:.3f} |"
                for c, n, m, lo, hi, cp in rows
            ),
            "",
            summary[0].upper() + summary[1:] + ".",
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="profiles to generate")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per tool (at least 3)")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed")
    parser.add_argument("--markdown", action="store_true", help="print a table for the README")
    args = parser.parse_args(argv)
    if args.runs < 3 or args.count < 1:
        parser.error("--runs must be at least 3 and --count at least 1")
    files = corpus(args.count, args.seed)
    # Bytecode as a regular `pip install` leaves it (the peer's was compiled at install).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "osbundle")], check=True)
    osb, cjs = measure(files, args.runs)
    print(report(osb, cjs, args.count, args.markdown))


if __name__ == "__main__":
    main()
