"""Archiver benchmark: osbundle against `tar | pigz` and `tar | gzip` on the same corpus.

    python bench/archive_bench.py                      # every target, 1 GiB corpus, 3 runs
    python bench/archive_bench.py --scale 0.1 --runs 1  # quick check
    python bench/archive_bench.py --targets 1,3 --markdown bench/results.md
    python bench/archive_bench.py --targets sweep --corpus-dir /work/corpus  # 50k/200k/1M files

Corpora come from ../shared/bench/corpus.py into bench/.corpus/ or --corpus-dir (reused when
present); outputs go to bench/.work/. The `sweep` target (issue 12) builds small-N corpora of
--counts files of 2 KiB each against `tar | pigz -p2 -6`. The page cache cannot be dropped
without root, so every corpus is read once before timing and every tool then reads from cache.
Each figure is the median of --runs runs (tools interleaved run by run), with min and max;
ratios divide medians measured in this run.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS_SCRIPT = HERE.parents[1] / "shared/bench/corpus.py"
MTIME = 315532800
TIME = "/usr/bin/time"


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    rss_kib: int
    size: int


@dataclass(frozen=True)
class Row:
    target: str
    tool: str
    runs: tuple[Run, ...]

    def stat(self, field: str) -> tuple[float, float, float]:
        values = [float(getattr(r, field)) for r in self.runs]
        return statistics.median(values), min(values), max(values)


OSBUNDLE = Path(sys.executable).with_name("osbundle")
# What the bench profile names in each corpus: a Windows profile holding the corpus as it is.
PROFILES = {
    "profile": ["drivers:", "  - drivers", "bootFiles:", "  - boot", "files:", "  - custom"],
    "small": ["files:", '  - "d*"'],
    "sparse": ["files:", "  - sparse-8g"],
}


def ensure_profile(corpus: Path, kind: str) -> Path:
    """Put a profile.yaml naming the corpus' files into it (once); the corpus is unchanged.

    Written beside it and linked into place, so that benchmarks sharing a corpus directory
    never read a half-written profile.yaml.
    """
    target = corpus / "profile.yaml"
    if not target.exists():
        header = ['id: "bench|corpus"', "name: corpus", "os:", "  family: windows",
                  '  release: "2022"', "  arch: x86_64"]  # fmt: skip
        fd, temp = tempfile.mkstemp(dir=corpus, prefix=".profile-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write("\n".join([*header, *PROFILES[kind]]) + "\n")
            os.link(temp, target)
        except FileExistsError:
            pass
        finally:
            os.unlink(temp)
    return corpus


def osbundle_command(corpus: Path, out: Path, compression: str, threads: int) -> str:
    """`osbundle build` of the corpus profile, the bundle then moved to `out`."""
    outdir = out.with_suffix(".d")
    env = f"SOURCE_DATE_EPOCH={MTIME} OSBUNDLE_HOME={out.parent / 'state'}"
    build = (
        f"{env} {OSBUNDLE} build {corpus} -o {outdir} --force --progress none "
        f"--compression {compression} --threads {threads}"
    )
    return f"{build} && mv -f {outdir}/19800101000000_corpus.tar.gz {out}"


def measure(command: list[str] | str, out: Path) -> Run:
    """Wall clock, user+sys CPU and peak RSS (largest process) of one command.

    The previous run's output is removed first, untimed: a shell's `> out` frees it before
    writing while a bundle replaces it only once complete, and on this VM writing into page
    cache that is not being freed at the same time costs up to a second per GB.
    """
    out.unlink(missing_ok=True)
    shutil.rmtree(out.with_suffix(".d"), ignore_errors=True)
    with tempfile.NamedTemporaryFile("r") as stats:
        shell = isinstance(command, str)
        argv = ["sh", "-c", command] if shell else command
        start = time.perf_counter()
        subprocess.run([TIME, "-o", stats.name, "-f", "%U %S %M", *argv], check=True)
        wall = time.perf_counter() - start
        user, system, rss = stats.read().split()[-3:]
    return Run(wall, float(user) + float(system), int(rss), out.stat().st_size)


def corpus(kind: str, value: str, script: Path, root: Path = HERE / ".corpus") -> Path:
    """<root>/profile-s<scale> or small-<count> (root: bench/.corpus), generated on first use."""
    path = root / (f"profile-s{value}" if kind == "profile" else f"small-{value}")
    if not path.is_dir() or not any(path.iterdir()):
        option = ["--small", value] if kind == "small" else ["--scale", value]
        subprocess.run([sys.executable, str(script), str(path), *option], check=True)
    return ensure_profile(path, kind)


def warm(path: Path) -> None:
    for dirpath, _dirs, names in os.walk(path):
        for name in names:
            with open(os.path.join(dirpath, name), "rb") as f:
                while f.read(1 << 20):
                    pass


def tar_pipe(src: Path, compressor: str, out: Path) -> str:
    return f"tar cf - -C {src.parent} {src.name} | {compressor} > {out}"


def bench_tools(target: str, tools: dict[str, list[str] | str], out: Path, runs: int) -> list[Row]:
    results: dict[str, list[Run]] = {name: [] for name in tools}
    for _ in range(runs):
        for name, command in tools.items():
            results[name].append(measure(command, out))
            print(f"  {target} {name}: {results[name][-1]}", file=sys.stderr, flush=True)
    return [Row(target, name, tuple(r)) for name, r in results.items()]


def speed_targets(args: argparse.Namespace, work: Path) -> list[Row]:
    out = work / "out.tar.gz"
    rows: list[Row] = []
    if "1" in args.targets or "2" in args.targets or "4" in args.targets:
        big = corpus("profile", args.scale, args.corpus_script, args.corpus_dir)
        pigz6 = tar_pipe(big, "pigz -p2 -6", out)
        warm(big)
        tools: dict[str, list[str] | str] = {"tar | pigz -p2 -6": pigz6}
        tools["osbundle default"] = osbundle_command(big, out, "default", args.threads)
        if "2" in args.targets:
            tools["tar | gzip -6"] = tar_pipe(big, "gzip -6", out)
            tools["osbundle best"] = osbundle_command(big, out, "best", args.threads)
        rows += bench_tools(f"profile corpus (scale {args.scale})", tools, out, args.runs)
    if "3" in args.targets:
        small = corpus("small", str(args.small), args.corpus_script, args.corpus_dir)
        warm(small)
        tools = {"tar | pigz -p2 -6": tar_pipe(small, "pigz -p2 -6", out)}
        tools["osbundle default"] = osbundle_command(small, out, "default", args.threads)
        rows += bench_tools(f"{args.small} small files", tools, out, args.runs)
    if "4" in args.targets:
        sparse = work / "sparse" / "sparse-8g"
        sparse.parent.mkdir(parents=True, exist_ok=True)
        with sparse.open("wb") as f:
            f.truncate(8 << 30)
        ensure_profile(sparse.parent, "sparse")
        tools = {"osbundle default": osbundle_command(sparse.parent, out, "default", args.threads)}
        rows += bench_tools("8 GiB sparse file", tools, out, args.runs)
    if "sweep" in args.targets:
        rows += sweep(args, out)
    return rows


def sweep(args: argparse.Namespace, out: Path) -> list[Row]:
    """Issue 12: osbundle against `tar | pigz -p2 -6` on small-N corpora, one N after another."""
    rows: list[Row] = []
    for count in args.counts:
        src = corpus("small", str(count), args.corpus_script, args.corpus_dir)
        warm(src)
        tools: dict[str, list[str] | str] = {"tar | pigz -p2 -6": tar_pipe(src, "pigz -p2 -6", out)}
        tools["osbundle default"] = osbundle_command(src, out, "default", args.threads)
        try:
            rows += bench_tools(f"sweep {count:,} x 2 KiB", tools, out, args.runs)
        except subprocess.CalledProcessError as exc:
            # One count failing (e.g. over a member limit) says so and leaves the others' figures.
            print(f"  sweep {count:,}: {exc}", file=sys.stderr, flush=True)
    return rows


def determinism(args: argparse.Namespace, work: Path) -> list[str]:
    """Target 5: same bytes for 1, 2 and 8 threads, and every reader accepts them."""
    src = corpus("profile", args.scale, args.corpus_script, args.corpus_dir)
    digests = {}
    for threads in (1, 2, 8):
        out = work / f"t{threads}.tar.gz"
        subprocess.run(["sh", "-c", osbundle_command(src, out, "default", threads)], check=True)
        digests[threads] = hashlib.sha256(out.read_bytes()).hexdigest()
    lines = [f"sha256 with --threads {t}: {d}" for t, d in digests.items()]
    lines.append("identical: " + ("yes" if len(set(digests.values())) == 1 else "NO"))
    archive = work / "t1.tar.gz"
    checks = {"gzip -t": ["gzip", "-t", str(archive)], "GNU tar": ["tar", "-tzf", str(archive)]}
    if shutil.which("bsdtar"):
        checks["bsdtar"] = ["bsdtar", "-tzf", str(archive)]
    for name, argv in checks.items():
        ok = subprocess.run(argv, capture_output=True, check=False).returncode == 0
        lines.append(f"{name}: {'reads it' if ok else 'FAILS'}")
    with tarfile.open(archive) as tar:
        lines.append(f"Python tarfile: reads it ({sum(1 for _ in tar)} members)")
    return lines


def fmt(row: Row, field: str, scale: float, unit: str) -> str:
    med, lo, hi = row.stat(field)
    return f"{med / scale:.2f} {unit} ({lo / scale:.2f}-{hi / scale:.2f})"


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| workload | tool | wall | CPU (user+sys) | size | peak RSS |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        tool = row.tool.replace("|", r"\|")
        lines.append(
            f"| {row.target} | {tool} | {fmt(row, 'wall', 1, 's')} | "
            f"{fmt(row, 'cpu', 1, 's')} | {fmt(row, 'size', 1e6, 'MB')} | "
            f"{fmt(row, 'rss_kib', 1024, 'MiB')} |"
        )
    return lines


def ratio(rows: list[Row], target: str, tool: str, peer: str, field: str) -> float | None:
    mine = [r for r in rows if r.target.startswith(target) and r.tool == tool]
    base = [r for r in rows if r.target.startswith(target) and r.tool == peer]
    if not mine or not base:
        return None
    return mine[0].stat(field)[0] / base[0].stat(field)[0]


def verdicts(rows: list[Row], small: int, targets: str, counts: list[int]) -> list[str]:
    pigz, default, best = "tar | pigz -p2 -6", "osbundle default", "osbundle best"
    checks = [
        ("1. default wall / pigz -6 wall", "profile", default, pigz, "wall", 0.35),
        ("1. default size / pigz -6 size", "profile", default, pigz, "size", 1.06),
        ("2. best size / gzip -6 size", "profile", best, "tar | gzip -6", "size", 1.01),
        ("2. best wall / pigz -6 wall", "profile", best, pigz, "wall", 0.75),
        ("3. small files wall / pigz -6 wall", f"{small} small", default, pigz, "wall", 1.0),
    ]
    lines = []
    for label, target, tool, peer, field, limit in checks:
        value = ratio(rows, target, tool, peer, field)
        if value is not None:
            lines.append(
                f"{label}: {value:.3f} (target ≤ {limit}) {'ok' if value <= limit else 'MISSED'}"
            )
    sweeps = [r for r in rows if r.target.startswith("sweep")]
    for row in rows:
        small = row.target.endswith("small files")
        if row.tool == "osbundle default" and row not in sweeps and not small:
            peak = row.stat("rss_kib")[2] / 1024
            lines.append(f"4. peak RSS {row.tool}, {row.target}: {peak:.0f} MiB (target ≤ 128)")
    if "sweep" in targets:
        done = {int(r.target.split()[1].replace(",", "")) for r in sweeps}
        lines += [f"sweep {n:,}: FAILED (see the error above)" for n in counts if n not in done]
    return lines + sweep_verdicts(sweeps)


# Issue 12: wall-clock ratio to `tar | pigz -p2 -6` per member count (none at 1,000,000).
SWEEP_WALL = {50_000: 0.85, 200_000: 0.7}


def sweep_verdicts(rows: list[Row]) -> list[str]:
    lines = []
    for row in rows:
        if row.tool != "osbundle default":
            continue
        count = int(row.target.split()[1].replace(",", ""))
        peak = row.stat("rss_kib")[2] / 1024
        verdict = "ok" if peak <= 128 else "MISSED"
        lines.append(
            f"sweep {count:,}: peak RSS {peak:.0f} MiB (max of runs; target ≤ 128) {verdict}"
        )
        value = ratio(rows, row.target, row.tool, "tar | pigz -p2 -6", "wall")
        if value is None:
            continue
        limit = SWEEP_WALL.get(count)
        target = (
            f"(target ≤ {limit}) {'ok' if value <= limit else 'MISSED'}" if limit else "(no target)"
        )
        lines.append(f"sweep {count:,}: wall / pigz -6 wall {value:.3f} {target}")
    return lines


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--scale", default="1.0", help="corpus.py --scale (default 1.0, ~1 GiB)")
    ap.add_argument("--small", type=int, default=50000, help="files in the small-file corpus")
    ap.add_argument(
        "--targets", default="1,2,3,4,5", help="comma-separated targets of the issue, or sweep"
    )
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="osbundle threads (0: one per CPU)")
    ap.add_argument("--corpus-script", type=Path, default=CORPUS_SCRIPT)
    ap.add_argument(
        "--corpus-dir", type=Path, default=HERE / ".corpus", help="where corpora are (or go)"
    )
    ap.add_argument(
        "--counts",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[50_000, 200_000, 1_000_000],
        help="files in each corpus of the sweep target (default 50000,200000,1000000)",
    )
    ap.add_argument("--markdown", type=Path, help="also write the results as markdown here")
    return ap.parse_args()


def main() -> None:
    args = parse_args()
    missing = [tool for tool in ("pigz", "gzip", "tar", TIME) if not shutil.which(tool)]
    if missing:
        sys.exit(f"missing {', '.join(missing)}: apt-get install pigz gzip tar time")
    work = HERE / ".work"
    work.mkdir(exist_ok=True)
    # Bytecode as a regular `pip install` leaves it (the editable dev install compiles on first
    # import, or never under PYTHONDONTWRITEBYTECODE): else every run pays ~35 ms of compiling.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(HERE.parent / "osbundle")], check=True
    )
    load = os.getloadavg()[0]
    rows = speed_targets(args, work)
    lines = [
        f"{os.cpu_count()} CPUs, load average {load:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at end; median (min-max) of {args.runs} runs",
        "",
    ]
    lines += [*table(rows), "", *verdicts(rows, args.small, args.targets, args.counts)]
    if "5" in args.targets:
        lines += ["", *determinism(args, work)]
    print("\n".join(lines))
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
