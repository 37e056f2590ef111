#!/bin/sh
# ESXi first-boot configuration (busybox sh): NTP, syslog, host name, hardening.
# Rendered by osbundle: hash-delimited values are macros from settings/esxi_host.json.
set -e

NTP0="#esxi.ntp.server0#"
NTP1="#esxi.ntp.server1#"
SYSLOG="#esxi.syslog.target#"

esxcli system hostname set --fqdn="#esxi.host.hostname#"

esxcli system ntp set --server="${NTP0}" --server="${NTP1}" --enabled=true
esxcli network firewall ruleset set --ruleset-id=ntpClient --enabled=true

esxcli system syslog config set --loghost="${SYSLOG}"
esxcli system syslog reload
esxcli network firewall ruleset set --ruleset-id=syslog --enabled=true

# Hardening: idle shell timeout, no MOB, lock out after repeated failures.
esxcli system settings advanced set -o /UserVars/ESXiShellInteractiveTimeOut -i 900
esxcli system settings advanced set -o /Config/HostAgent/plugins/solo/enableMob -i 0
esxcli system settings advanced set -o /Security/AccountLockFailures -i 5

echo "first boot done for profile #predefined.profile.name#" >> /var/log/osbundle-firstboot.log
