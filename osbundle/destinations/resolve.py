"""The destination a build request names: today its local output directory (`-o`)."""

from __future__ import annotations

from osbundle.destinations.base import Destination
from osbundle.destinations.local import LocalDestination
from osbundle.model import BuildRequest


def destination_for(request: BuildRequest) -> Destination:
    return LocalDestination(request.outdir)
