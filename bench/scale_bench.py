"""Scale benchmark (issue 12): the read-only commands on large profiles, time and peak RSS.

    python bench/scale_bench.py --corpus-dir /work/corpus              # 50k, 200k, 1M files
    python bench/scale_bench.py --counts 200000 --runs 3 --markdown bench/.work/scale.md

For each small-N corpus of ../shared/bench/corpus.py (2 KiB files, the profile.yaml of
archive_bench.py's ensure_profile): `osbundle validate`, `osbundle plan`, `osbundle plan --json`
(output to /dev/null, as the text output is) and `osbundle verify` of the corpus' bundle, which
is built once first, untimed (archive_bench.py's sweep target times the build). Each figure is
the median (min-max) of --runs runs, commands interleaved run by run; wall time from the
harness, CPU (user+sys) and peak RSS from /usr/bin/time. Verdict: peak RSS <= 128 MiB.
`validate` against check-jsonschema is bench/validate_bench.py's job, not repeated here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the `bench` namespace package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.archive_bench import CORPUS_SCRIPT, HERE, MTIME, OSBUNDLE, TIME, corpus, warm

LIMIT_MIB = 128


@dataclass(frozen=True)
class Sample:
    wall: float
    cpu: float
    rss_kib: int


def timed(argv: list[str], env: dict[str, str]) -> Sample:
    """One run of `argv`, its stdout discarded; it must exit 0."""
    with tempfile.NamedTemporaryFile("r") as stats:
        start = time.perf_counter()
        subprocess.run(
            [TIME, "-o", stats.name, "-f", "%U %S %M", *argv],
            env=env,
            stdout=subprocess.DEVNULL,
            check=True,
        )
        wall = time.perf_counter() - start
        user, system, rss = stats.read().split()[-3:]
    return Sample(wall, float(user) + float(system), int(rss))


def build_once(src: Path, out: Path, env: dict[str, str]) -> Path:
    """The corpus' bundle (built untimed) for `verify` to check."""
    shutil.rmtree(out, ignore_errors=True)
    argv = [str(OSBUNDLE), "build", str(src), "-o", str(out), "--force", "--progress", "none"]
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
    (bundle,) = out.glob("*.tar.gz")
    return bundle


def commands(src: Path, bundle: Path) -> dict[str, list[str]]:
    cli = str(OSBUNDLE)
    return {
        "validate": [cli, "validate", str(src)],
        "plan": [cli, "plan", str(src)],
        "plan --json": [cli, "plan", "--json", str(src)],
        "verify": [cli, "verify", str(bundle)],
    }


def bench_count(count: int, args: argparse.Namespace, work: Path) -> list[tuple[str, Sample]]:
    src = corpus("small", str(count), args.corpus_script, args.corpus_dir)
    warm(src)
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(MTIME), "OSBUNDLE_HOME": str(work / "state")}
    bundle = build_once(src, work / f"scale-{count}", env)
    samples: list[tuple[str, Sample]] = []
    for _ in range(args.runs):
        for name, argv in commands(src, bundle).items():
            samples.append((name, timed(argv, env)))
            print(f"  {count:,} {name}: {samples[-1][1]}", file=sys.stderr, flush=True)
    return samples


def stat(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def report(results: dict[int, list[tuple[str, Sample]]]) -> list[str]:
    lines = [
        "| files | command | wall (s) | CPU (s) | peak RSS (MiB) | ≤ 128 MiB |",
        "|---:|---|---|---|---|---|",
    ]
    for count, samples in results.items():
        for name in dict.fromkeys(name for name, _ in samples):
            mine = [s for n, s in samples if n == name]
            rss = [s.rss_kib / 1024 for s in mine]
            verdict = "ok" if max(rss) <= LIMIT_MIB else "MISSED"
            lines.append(
                f"| {count:,} | `osbundle {name}` | {stat([s.wall for s in mine])} | "
                f"{stat([s.cpu for s in mine])} | {stat(rss)} | {verdict} |"
            )
    return lines


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--counts",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[50_000, 200_000, 1_000_000],
        help="files in each corpus (default 50000,200000,1000000)",
    )
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--corpus-script", type=Path, default=CORPUS_SCRIPT)
    ap.add_argument(
        "--corpus-dir", type=Path, default=HERE / ".corpus", help="where corpora are (or go)"
    )
    ap.add_argument("--markdown", type=Path, help="also write the results as markdown here")
    return ap.parse_args()


def main() -> None:
    args = parse_args()
    if not shutil.which(TIME):
        sys.exit(f"missing {TIME}: apt-get install time")
    work = HERE / ".work"
    work.mkdir(exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(HERE.parent / "osbundle")], check=True
    )
    load = os.getloadavg()[0]
    results: dict[int, list[tuple[str, Sample]]] = {}
    failed = []
    for count in args.counts:
        try:
            results[count] = bench_count(count, args, work)
        except subprocess.CalledProcessError as exc:
            # One count failing (e.g. over a member limit) says so and leaves the others' figures.
            print(f"  {count:,}: {exc}", file=sys.stderr, flush=True)
            failed.append(f"{count:,} files: FAILED (see the error above)")
    lines = [
        f"{os.cpu_count()} CPUs, load average {load:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at end; median (min-max) of {args.runs} runs",
        "",
        *report(results),
        *(["", *failed] if failed else []),
    ]
    print("\n".join(lines))
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
