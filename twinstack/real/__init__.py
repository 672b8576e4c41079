"""The real host agent: libvirt, pyroute2, nftables, dnsmasq and qcow2 on the machine it runs on."""
