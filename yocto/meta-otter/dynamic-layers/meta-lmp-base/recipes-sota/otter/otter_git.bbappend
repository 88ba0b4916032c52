# LmP devices: lmp-device-register writes the device credentials and sota.toml under /var/sota;
# this fragment tells Otter to use them, and LmP's U-Boot script (u-boot-ostree-scr-fit) already
# counts with the variables Otter's default scheme writes (upgrade_available, bootcount, rollback).
FILESEXTRAPATHS:prepend := "${THISDIR}/files:"
SRC_URI += "file://20-lmp.toml"

do_install:append() {
    install -D -m 0644 ${WORKDIR}/20-lmp.toml ${D}${nonarch_libdir}/otter/conf.d/20-lmp.toml
}

# aktualizr-get and aktualizr-hwid stay installed by lmp-feature-ota-utils; only the agent swaps.
