"""The exception hierarchy: exit codes per class and ProfileInvalid's one-line message."""

from __future__ import annotations

import pytest

from osbundle.diagnostics import Diagnostic
from osbundle.errors import (
    BuildError,
    BundleError,
    Cancelled,
    InputError,
    JobError,
    OsbundleError,
    ProfileInvalid,
    UnknownJob,
)


def diagnostic(line: int) -> Diagnostic:
    return Diagnostic("p.yaml", line, 1, ("drivers", line), f"problem {line}")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (OsbundleError, 1),
        (InputError, 2),
        (BuildError, 1),
        (BundleError, 1),
        (JobError, 1),
        (Cancelled, 130),
        (ProfileInvalid, 2),
        (UnknownJob, 2),
    ],
)
def test_exit_code_of_each_class(error: type[OsbundleError], code: int) -> None:
    assert error.exit_code == code
    assert issubclass(error, OsbundleError)


def test_instances_carry_their_class_s_code_and_no_job() -> None:
    assert BuildError("x").exit_code == 1
    assert Cancelled("x").exit_code == 130
    assert InputError("x").job_id == ""
    assert issubclass(ProfileInvalid, InputError)
    assert issubclass(UnknownJob, JobError)  # what a caller of the job store catches


def test_profile_invalid_with_one_diagnostic_is_its_rendering() -> None:
    error = ProfileInvalid((diagnostic(3),))
    assert str(error) == "p.yaml:3:1: drivers[3]: problem 3"
    assert error.diagnostics == (diagnostic(3),)


def test_profile_invalid_names_the_first_and_counts_the_rest() -> None:
    error = ProfileInvalid((diagnostic(3), diagnostic(5), diagnostic(9)))
    assert str(error) == "p.yaml:3:1: drivers[3]: problem 3 (and 2 more)"
    assert len(error.diagnostics) == 3
    two = ProfileInvalid((diagnostic(1), diagnostic(2)))
    assert str(two).endswith(" (and 1 more)")


def test_profile_invalid_without_diagnostics() -> None:
    error = ProfileInvalid(())
    assert str(error) == "invalid profile"
    assert error.exit_code == 2
