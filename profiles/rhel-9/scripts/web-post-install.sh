#!/bin/bash
# Web tier: nginx with TLS on the configured port, docroot on /var-backed storage.
# Rendered by osbundle: hash-delimited values are macros from settings/rhel9.json.
set -euo pipefail

DOCROOT="#rhel9.web.docroot#"
LISTEN_PORT="#rhel9.web.listenPort#"
SERVER_NAME="#rhel9.web.serverName#"

install -d -m 0755 -o root -g root "${DOCROOT}"
semanage fcontext -a -t httpd_sys_content_t "${DOCROOT}(/.*)?"
restorecon -R "${DOCROOT}"

cat > /etc/nginx/conf.d/site.conf <<NGINX
server {
    listen ${LISTEN_PORT} ssl http2;
    server_name ${SERVER_NAME};
    root ${DOCROOT};
    ssl_certificate     /etc/pki/tls/certs/${SERVER_NAME}.crt;
    ssl_certificate_key /etc/pki/tls/private/${SERVER_NAME}.key;
    ssl_protocols TLSv1.2 TLSv1.3;
}
NGINX

if [ "${LISTEN_PORT}" != "443" ]; then
    semanage port -a -t http_port_t -p tcp "${LISTEN_PORT}"
    firewall-offline-cmd --add-port="${LISTEN_PORT}/tcp"
fi
systemctl enable nginx
