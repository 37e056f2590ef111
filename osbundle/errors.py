"""The one exception hierarchy. Library code raises these; only the CLI prints and exits."""

from __future__ import annotations


class OsbundleError(Exception):
    """Base of every error osbundle raises on purpose; `exit_code` is what the CLI returns."""

    exit_code = 1
    job_id = ""  # set when the error ended a recorded job


class InputError(OsbundleError):
    """Bad input or usage: unreadable file, invalid profile, bad option (exit 2)."""

    exit_code = 2


class BuildError(OsbundleError):
    """A build that could not complete: source changed, disk full, output exists (exit 1)."""


class BundleError(OsbundleError):
    """A bundle that fails verification or cannot be read safely (exit 1)."""


class JobError(OsbundleError):
    """The job store is unusable, or a job operation is not possible (exit 1)."""


class UnknownJob(JobError, InputError):
    """A job id that names no job, or is not a job id at all: bad input, like a missing file (2)."""


class Cancelled(OsbundleError):
    """Stopped on request: SIGINT, SIGTERM or `osbundle tasks cancel` (exit 130)."""

    exit_code = 130


class ProfileInvalid(InputError):
    """A profile that failed loading or validation; carries every diagnostic, not just the first."""

    def __init__(self, diagnostics: tuple[Diagnostic, ...]) -> None:
        self.diagnostics = diagnostics
        first = diagnostics[0].render() if diagnostics else "invalid profile"
        more = f" (and {len(diagnostics) - 1} more)" if len(diagnostics) > 1 else ""
        super().__init__(first + more)


from osbundle.diagnostics import Diagnostic  # noqa: E402  (diagnostics imports nothing from here)
