"""Large generated profiles for the scale tests and benchmarks, and the peak RSS of one command.

`make_profile(root, n)` writes a Windows profile of `n` tiny files (16-64 bytes, 500 to a
directory) in a few seconds per 100,000 files: plain `os.open`/`os.write`, no `Path` per file.
`peak_rss(argv)` runs a command through a launcher started fresh from a small process and
returns the command's own peak RSS: Linux carries a process's high-water mark into a child
across fork+exec, so a command started straight from pytest would report pytest's RSS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PER_DIR = 500
PROFILE_YAML = """\
id: "bench|big"
name: big
os:
  family: windows
  release: "2022"
  arch: x86_64
files:
  - "d*"
"""

# Runs in a `python -c` started by a subprocess call: its own memory is a fresh, small image, so
# the command it starts inherits no large high-water mark. It reports the command's rusage.
LAUNCHER = """\
import json, os, sys
null = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ, file_actions=null)
_, status, usage = os.wait4(pid, 0)
json.dump({"status": os.waitstatus_to_exitcode(status), "maxrss_kib": usage.ru_maxrss,
           "cpu": usage.ru_utime + usage.ru_stime}, sys.stdout)
"""


def make_profile(root: Path, count: int, *, per_dir: int = PER_DIR) -> Path:
    """`root` (created) holding profile.yaml and `count` files d0000/f0000000 ... of 16-64 bytes.

    Contents differ per file (its index, padded to a size that cycles through 16..64), so no
    two members are alike and the compressor has real, if small, work.
    """
    root.mkdir(parents=True, exist_ok=False)
    (root / "profile.yaml").write_text(PROFILE_YAML, encoding="utf-8")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    base = os.fspath(root)
    for start in range(0, count, per_dir):
        directory = f"{base}/d{start // per_dir:04d}"
        os.mkdir(directory)
        for index in range(start, min(start + per_dir, count)):
            size = 16 + index % 49
            data = f"{index:08d} member of a big profile\n".encode().ljust(size, b".")[:size]
            fd = os.open(f"{directory}/f{index:07d}", flags, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
    return root


@dataclass(frozen=True)
class Usage:
    """What one command left: its exit code, its own peak RSS and its CPU time."""

    status: int
    maxrss_kib: int
    cpu: float
    stderr: str

    @property
    def maxrss_mib(self) -> float:
        return self.maxrss_kib / 1024


def peak_rss(argv: list[str], *, env: dict[str, str] | None = None) -> Usage:
    """Run `argv` (argv[0] an absolute path; its stdout discarded) and return its exit code,
    its own peak RSS and CPU time. Its stderr is in `Usage.stderr`."""
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *argv], env=env, capture_output=True, check=False
    )
    stderr = done.stderr.decode(errors="replace")
    try:
        fields = json.loads(done.stdout)
    except ValueError:
        raise AssertionError(f"launcher failed ({done.returncode}): {stderr}") from None
    status, maxrss, cpu = int(fields["status"]), int(fields["maxrss_kib"]), float(fields["cpu"])
    return Usage(status, maxrss, cpu, stderr)
