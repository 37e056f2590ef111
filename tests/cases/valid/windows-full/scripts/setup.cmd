echo #site.servers.0.name#
