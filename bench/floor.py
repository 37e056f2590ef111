"""The floor of a build on this machine: each part of the work a bundle needs, measured alone.

    .venv/bin/python bench/floor.py                                  # 1 GiB corpus, 3 runs
    .venv/bin/python bench/floor.py /work/corpus/profile-s1.0 --runs 5 --out /tmp/floor

Parts, each timed alone over the same bytes (page cache warm): reading every file of the corpus
once; over a tar stream made from its files (GNU tar, held in page cache through mmap): copying
it into 1 MiB blocks, sha256, xxh3-128, crc32, ISA-L / zlib-ng deflate at a `deflate.SPECS`
setting on 1 and on 2 threads (block-parallel, as `GzipBlockWriter`, output written to a file),
sha256 of the deflate output, and `GzipBlockWriter` itself. CPU is user+sys of this process
(every thread), so a part's MB/s is what one core gives. In the same run, interleaved:
`tar cf - | pigz -p2 -6` and `osbundle build` (output removed before each run). Each figure is
the median of --runs runs. The floor is CPU seconds / 2 cores: what a build would take if both
cores did nothing but the format's work and never waited.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import mmap
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import xxhash
from isal import isal_zlib

from osbundle.tarstream.deflate import (
    BLOCK_SIZE,
    DICT_SIZE,
    SPECS,
    DeflateSpec,
    GzipBlockWriter,
    compress_block,
)

CORPUS = Path("/work/corpus/profile-s1.0")
OSBUNDLE = Path(sys.executable).with_name("osbundle")
TIME = "/usr/bin/time"
CORES = 2
MB = 1e6
BAR = "\\|"  # a | inside a markdown table cell


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float


@dataclass(frozen=True)
class Part:
    name: str
    size: int  # bytes the part goes through
    wall: float  # medians
    cpu: float

    def line(self) -> str:
        rate = self.size / self.cpu / MB if self.cpu else float("inf")
        return (
            f"| {self.name} | {self.size / MB:,.0f} MB | {self.wall:.3f} s | {self.cpu:.3f} s "
            f"| {rate:,.0f} MB/s |"
        )


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(work: Callable[[], object]) -> Timing:
    wall, cpu = time.perf_counter(), cpu_seconds()
    work()
    return Timing(time.perf_counter() - wall, cpu_seconds() - cpu)


def part(name: str, size: int, work: Callable[[], object], runs: int) -> Part:
    timings = [timed(work) for _ in range(runs)]
    wall = statistics.median(t.wall for t in timings)
    part = Part(name, size, wall, statistics.median(t.cpu for t in timings))
    print(f"  {part.line()}", file=sys.stderr, flush=True)
    return part


def corpus_files(root: Path) -> list[str]:
    files: list[str] = []
    for dirpath, dirs, names in os.walk(root):
        dirs.sort()
        files += (os.path.join(dirpath, n) for n in sorted(names) if n != "profile.yaml")
    return files


def read_all(files: list[str]) -> int:
    """Every file read once into one reused 1 MiB buffer, as the archiver reads: no copy."""
    buf = memoryview(bytearray(BLOCK_SIZE))
    total = 0
    for path in files:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            while n := os.readv(fd, [buf]):
                total += n
        finally:
            os.close(fd)
    return total


def blocks(stream: memoryview) -> list[memoryview]:
    return [stream[i : i + BLOCK_SIZE] for i in range(0, len(stream), BLOCK_SIZE)]


def copy_blocks(chunks: list[memoryview]) -> None:
    buf = memoryview(bytearray(BLOCK_SIZE))
    for chunk in chunks:
        buf[: len(chunk)] = chunk


def hash_all(chunks: list[memoryview], make: Callable[[], Any]) -> str:
    digest = make()
    for chunk in chunks:
        digest.update(chunk)
    return str(digest.hexdigest())


def crc_all(chunks: list[memoryview]) -> int:
    crc = 0
    for chunk in chunks:
        crc = isal_zlib.crc32(chunk, crc)
    return crc


def deflate_all(chunks: list[memoryview], spec: DeflateSpec, threads: int, out: IO[bytes]) -> int:
    """The chained 1 MiB blocks of deflate.py compressed on `threads` and written in order."""
    out.seek(0)
    out.truncate()
    written = 0
    zdict = b""
    window = 2 * threads + 2
    pending: deque[Future[bytes]] = deque()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            pending.append(pool.submit(compress_block, spec, chunk, zdict, last))
            zdict = bytes(chunk[-DICT_SIZE:])
            while len(pending) >= window or (last and pending):
                written += out.write(pending.popleft().result()) or 0
    return written


def block_writer(chunks: list[memoryview], spec: DeflateSpec, out: IO[bytes]) -> int:
    """`GzipBlockWriter` on CORES threads: compression, tar and output sha256, crc, writes."""
    out.seek(0)
    out.truncate()
    gz = GzipBlockWriter(out, spec, CORES)
    for chunk in chunks[:-1]:
        buf = gz.acquire()
        buf[:BLOCK_SIZE] = chunk
        gz.submit(buf, BLOCK_SIZE)
    buf = gz.acquire()
    buf[: len(chunks[-1])] = chunks[-1]
    return gz.finish(buf, len(chunks[-1])).size


def tar_stream(root: Path, work: Path) -> mmap.mmap:
    """The corpus as GNU tar writes it, in a temporary file held in page cache."""
    with tempfile.TemporaryFile(dir=work) as tmp:
        subprocess.run(
            ["tar", "cf", "-", "--sort=name", "--exclude=./profile.yaml", "-C", str(root), "."],
            stdout=tmp,
            check=True,
        )
        return mmap.mmap(tmp.fileno(), 0, access=mmap.ACCESS_READ)


@dataclass(frozen=True)
class Command:
    wall: float
    cpu: float
    rss_kib: int
    size: int


def run_command(command: str, out: Path) -> Command:
    """Wall, user+sys and peak RSS of `sh -c command`; `out` (file or directory) removed first,
    untimed, so that no run writes beside the previous run's pages."""
    if out.is_dir():
        shutil.rmtree(out)
    out.unlink(missing_ok=True)
    with tempfile.NamedTemporaryFile("r") as stats:
        start = time.perf_counter()
        argv = [TIME, "-o", stats.name, "-f", "%U %S %M", "sh", "-c", command]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        user, system, rss = stats.read().split()[-3:]
    size = sum(p.stat().st_size for p in out.glob("*.tar.gz")) if out.is_dir() else 0
    return Command(wall, float(user) + float(system), int(rss), size or _size(out))


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else 0


def commands(root: Path, work: Path, runs: int) -> dict[str, list[Command]]:
    """`tar | pigz -p2 -6` and `osbundle build`, interleaved run by run."""
    pigz_out, bundle_out = work / "pigz.tar.gz", work / "bundle"
    env = f"SOURCE_DATE_EPOCH=1700000000 OSBUNDLE_HOME={work / 'state'}"
    tools = {
        "tar | pigz -p2 -6": (f"tar cf - -C {root} . | pigz -p2 -6 > {pigz_out}", pigz_out),
        "osbundle build (default)": (
            f"{env} {OSBUNDLE} build {root} -o {bundle_out} --force --progress none",
            bundle_out,
        ),
    }
    results: dict[str, list[Command]] = {name: [] for name in tools}
    for _ in range(runs):
        for name, (command, out) in tools.items():
            results[name].append(run_command(command, out))
            print(f"  {name}: {results[name][-1]}", file=sys.stderr, flush=True)
    return results


def measure_parts(root: Path, work: Path, spec_name: str, runs: int) -> list[Part]:
    files = corpus_files(root)
    size = read_all(files)  # warms the page cache
    name = f"read {len(files):,} files once"
    parts = [part(name, size, lambda: read_all(files), runs)]
    with tar_stream(root, work) as stream:
        view = memoryview(stream)
        try:
            parts += stream_parts(blocks(view), SPECS[spec_name], work, runs)
        finally:
            view.release()
    return parts


def stream_parts(chunks: list[memoryview], spec: DeflateSpec, work: Path, runs: int) -> list[Part]:
    size = sum(len(c) for c in chunks)
    crc_all(chunks)  # faults the mapping in
    parts = [
        part("copy tar stream into 1 MiB blocks", size, lambda: copy_blocks(chunks), runs),
        part("sha256 of tar stream", size, lambda: hash_all(chunks, hashlib.sha256), runs),
        part("xxh3-128 of tar stream", size, lambda: hash_all(chunks, xxhash.xxh3_128), runs),
        part("crc32 (ISA-L) of tar stream", size, lambda: crc_all(chunks), runs),
    ]
    setting = f"({spec.library} {spec.level}/{spec.mem_level})"
    with tempfile.TemporaryFile(dir=work, buffering=0) as out:
        for threads in (1, CORES):
            name = f"deflate {setting}, {threads} thread(s), written"
            parts.append(
                part(name, size, functools.partial(deflate_all, chunks, spec, threads, out), runs)
            )
        out_chunks = blocks(memoryview(_compressed(out)))
        name = "sha256 of deflate output"
        size_out = sum(len(c) for c in out_chunks)
        parts.append(part(name, size_out, lambda: hash_all(out_chunks, hashlib.sha256), runs))
        name = f"GzipBlockWriter, {CORES} threads, written"
        parts.append(part(name, size, lambda: block_writer(chunks, spec, out), runs))
    return parts


def _compressed(out: IO[bytes]) -> bytes:
    out.seek(0)
    return out.read() or b""


def by_name(parts: list[Part], prefix: str) -> Part:
    return next(p for p in parts if p.name.startswith(prefix))


def report(parts: list[Part], tools: dict[str, list[Command]]) -> list[str]:
    lines = ["| part | bytes | wall | CPU | MB/s (per core) |", "|---|---:|---:|---:|---:|"]
    lines += [p.line() for p in parts]
    read = by_name(parts, "read ").cpu
    sha, xxh = by_name(parts, "sha256 of tar").cpu, by_name(parts, "xxh3").cpu
    crc, out_sha = by_name(parts, "crc32").cpu, by_name(parts, "sha256 of deflate").cpu
    copy = by_name(parts, "copy").cpu
    # The same work on 1 or 2 threads; on a loaded machine CPU seconds stretch too, and the
    # smaller figure is the nearer to what the work itself costs.
    deflate = min(p.cpu for p in parts if p.name.startswith("deflate "))
    minimum = read + deflate
    format_cpu = read + copy + 2 * sha + xxh + crc + deflate + out_sha
    pigz = statistics.median(c.wall for c in tools["tar | pigz -p2 -6"])
    pigz_cpu = statistics.median(c.cpu for c in tools["tar | pigz -p2 -6"])
    lines += [
        "",
        "| command | wall (median) | CPU | peak RSS | size |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, runs in tools.items():
        lines.append(
            f"| {name.replace('|', BAR)} | {statistics.median(c.wall for c in runs):.2f} s "
            f"({min(c.wall for c in runs):.2f}-{max(c.wall for c in runs):.2f}) "
            f"| {statistics.median(c.cpu for c in runs):.2f} s "
            f"| {max(c.rss_kib for c in runs) / 1024:.0f} MiB | {runs[-1].size / MB:,.2f} MB |"
        )
    build = statistics.median(c.wall for c in tools["osbundle build (default)"])
    build_cpu = statistics.median(c.cpu for c in tools["osbundle build (default)"])
    lines += [
        "",
        f"- read once + deflate: {minimum:.2f} CPU s; / {CORES} cores = "
        f"**{minimum / CORES:.2f} s** = {minimum / CORES / pigz:.3f}x pigz",
        f"- the format's work (read, copy into blocks, sha256 of member data and of the tar "
        f"stream, xxh3-128, crc32, deflate, sha256 of the output): {format_cpu:.2f} CPU s; / "
        f"{CORES} = **{format_cpu / CORES:.2f} s** = {format_cpu / CORES / pigz:.3f}x pigz",
        f"- osbundle build: {build:.2f} s = {build / pigz:.3f}x pigz; "
        f"{build / (format_cpu / CORES):.2f}x the format's floor; its CPU {build_cpu:.2f} s = "
        f"{build_cpu / format_cpu:.2f}x the format's and {build_cpu / pigz_cpu:.3f}x pigz's",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=CORPUS)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--spec", default="default", choices=sorted(SPECS))
    parser.add_argument("--out", type=Path, help="work directory (default: a temporary one)")
    args = parser.parse_args()
    missing = [tool for tool in ("pigz", "tar", TIME) if not shutil.which(tool)]
    if missing:
        sys.exit(f"missing {', '.join(missing)}: apt-get install pigz tar time")
    with tempfile.TemporaryDirectory(dir=args.out) as tmp:
        work = Path(tmp)
        load = os.getloadavg()[0]
        parts = measure_parts(args.corpus.resolve(), work, args.spec, args.runs)
        tools = commands(args.corpus.resolve(), work, args.runs)
        lines = report(parts, tools)
    print("\n".join(lines))
    print(f"\nload average {load:.2f} at start, {os.getloadavg()[0]:.2f} at end; "
          f"{os.cpu_count()} CPUs; medians of {args.runs} runs")  # fmt: skip


if __name__ == "__main__":
    main()
