"""Export stage: name the bundle, claim that name at its destination, and publish the finished
archive there with its checksum file (the how is the destination's: destinations/)."""

from __future__ import annotations

import time

from osbundle.destinations.base import Upload


def bundle_filename(profile_name: str, epoch: float) -> str:
    """`<YYYYMMDDHHMMSS UTC>_<profile-name>.tar.gz`, as the appliance names exports."""
    return f"{time.strftime('%Y%m%d%H%M%S', time.gmtime(epoch))}_{profile_name}.tar.gz"


def checksum_file(name: str, sha256: str) -> bytes:
    """`<bundle>.sha256`: one `sha256sum -c` line naming the bundle."""
    return f"{sha256}  {name}\n".encode()


def publish(upload: Upload, sha256: str) -> None:
    upload.commit(checksum_file(upload.name, sha256))
