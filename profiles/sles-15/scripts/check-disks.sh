#!/bin/sh
# Pre-install check: refuse to wipe a data disk that already holds a PostgreSQL cluster.
# Rendered by osbundle: the data disk comes from settings/sles15.json.
set -eu
DATA_DISK="#sles15.db.dataDisk#"

if [ ! -b "${DATA_DISK}" ]; then
    echo "data disk ${DATA_DISK} not found" >&2
    exit 1
fi
if blkid -p "${DATA_DISK}"* 2>/dev/null | grep -q 'LABEL="pgdata"'; then
    echo "${DATA_DISK} holds an existing pgdata volume; not reinstalling" >&2
    exit 1
fi
