#!/bin/bash
# Company baseline for RHEL-family hosts: time, SSH, audit, agent.
# Rendered by osbundle: hash-delimited values are macros from settings/common.json.
set -euo pipefail
exec > >(tee -a /var/log/osbundle-harden.log) 2>&1

NTP_SERVERS=("#common.ntp.server0#" "#common.ntp.server1#")
AGENT_SERVER="#common.agent.server#"
AGENT_TENANT="#common.agent.tenant#"
BUNDLE_DIR="${BUNDLE_DIR:-/root/osbundle}"

echo "hardening $(hostname -f) for profile #predefined.profile.name#"

# Time: only the corporate NTP servers.
sed -i '/^pool /d;/^server /d' /etc/chrony.conf
for server in "${NTP_SERVERS[@]}"; do
    echo "server ${server} iburst" >> /etc/chrony.conf
done
systemctl enable --now chronyd

# SSH: keys only, no root password logins.
install -d -m 0755 /etc/ssh/sshd_config.d
cat > /etc/ssh/sshd_config.d/50-osbundle.conf <<'SSHD'
PermitRootLogin prohibit-password
PasswordAuthentication no
X11Forwarding no
MaxAuthTries 3
SSHD
install -d -m 0700 /root/.ssh
echo "#common.ssh.adminKey#" >> /root/.ssh/authorized_keys
chmod 0600 /root/.ssh/authorized_keys

# Kernel and audit baseline.
cat > /etc/sysctl.d/50-osbundle.conf <<'SYSCTL'
net.ipv4.conf.all.accept_redirects = 0
net.ipv4.conf.all.send_redirects = 0
net.ipv4.tcp_syncookies = 1
kernel.kptr_restrict = 2
SYSCTL
sysctl --system >/dev/null
systemctl enable --now auditd

# Monitoring agent shipped in the bundle's custom/software/.
tar -xzf "${BUNDLE_DIR}/custom/software/contoso-agent-4.2.1.tar.gz" -C /opt
sed -i "s|^server = .*|server = ${AGENT_SERVER}|" /opt/contoso-agent/agent.conf
echo "tenant = ${AGENT_TENANT}" >> /opt/contoso-agent/agent.conf
/opt/contoso-agent/install.sh
