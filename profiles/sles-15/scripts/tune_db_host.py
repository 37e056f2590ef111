#!/usr/bin/python3
"""Post-install tuning for SLES database hosts: chrony, huge pages, PostgreSQL memory.

Rendered by osbundle: the hash-delimited strings are macros from settings/sles15.json.
"""

import pathlib
import subprocess

NTP_SERVER = "#sles15.ntp.server#"
SHARED_BUFFERS_MIB = int("#sles15.db.sharedBuffersMiB#")
HUGE_PAGES = int("#sles15.db.hugePages#")
PROFILE = "#predefined.profile.name#"


def configure_chrony() -> None:
    conf = pathlib.Path("/etc/chrony.d/osbundle.conf")
    conf.write_text(f"server {NTP_SERVER} iburst\n", encoding="ascii")
    subprocess.run(["systemctl", "restart", "chronyd"], check=True)


def configure_kernel() -> None:
    sysctl = pathlib.Path("/etc/sysctl.d/60-postgresql.conf")
    sysctl.write_text(
        f"vm.nr_hugepages = {HUGE_PAGES}\n"
        "vm.swappiness = 1\n"
        "vm.overcommit_memory = 2\n",
        encoding="ascii",
    )
    subprocess.run(["sysctl", "--system"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["tuned-adm", "profile", "throughput-performance"], check=True)


def configure_postgresql() -> None:
    dropin = pathlib.Path("/var/lib/pgsql/data/conf.d/osbundle.conf")
    dropin.parent.mkdir(parents=True, exist_ok=True)
    dropin.write_text(
        f"shared_buffers = {SHARED_BUFFERS_MIB}MB\nhuge_pages = try\n", encoding="ascii"
    )


def main() -> None:
    print(f"tuning database host for profile {PROFILE}")
    configure_chrony()
    configure_kernel()
    configure_postgresql()


if __name__ == "__main__":
    main()
