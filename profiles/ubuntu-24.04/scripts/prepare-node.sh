#!/bin/bash
# Kubernetes worker preparation: kernel modules, sysctls, containerd, kubelet repository.
# Rendered by osbundle: hash-delimited values are macros from settings/k8s_node.json.
set -euo pipefail

CLUSTER="#k8s_node.cluster.name#"
K8S_MINOR="#k8s_node.cluster.kubernetesMinor#"

echo "preparing $(hostname) for cluster ${CLUSTER} (profile #predefined.profile.name#)"

cat > /etc/modules-load.d/k8s.conf <<'MODULES'
overlay
br_netfilter
MODULES
modprobe overlay
modprobe br_netfilter

cat > /etc/sysctl.d/99-kubernetes.conf <<'SYSCTL'
net.bridge.bridge-nf-call-iptables  = 1
net.bridge.bridge-nf-call-ip6tables = 1
net.ipv4.ip_forward                 = 1
SYSCTL
sysctl --system >/dev/null

swapoff -a
sed -i '/\sswap\s/d' /etc/fstab

install -d -m 0755 /etc/containerd
containerd config default > /etc/containerd/config.toml
sed -i 's/SystemdCgroup = false/SystemdCgroup = true/' /etc/containerd/config.toml
systemctl restart containerd

install -d -m 0755 /etc/apt/keyrings
curl -fsSL "https://pkgs.k8s.io/core:/stable:/${K8S_MINOR}/deb/Release.key" \
    | gpg --dearmor -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg
echo "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/${K8S_MINOR}/deb/ /" \
    > /etc/apt/sources.list.d/kubernetes.list
apt-get update -q
apt-get install -y -q kubelet kubeadm
apt-mark hold kubelet kubeadm
