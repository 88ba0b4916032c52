# nooelint: oelint.var.bbclassextend - Boot files for the target only: no native or SDK variant.
SUMMARY = "Otter boot-counting scripts for U-Boot (boot.scr) and GRUB (grub.cfg)"
DESCRIPTION = "Compiles Otter's U-Boot boot script with mkimage and deploys it with the default environment fragment and the GRUB configuration for the boot partition; packages the GRUB menu generator."
# nooelint: oelint.vars.homepageping - a placeholder until the project has a public home; the check needs the network
HOMEPAGE = "https://git.example.invalid/otter"
BUGTRACKER = "https://git.example.invalid/otter/issues"
SECTION = "bootloaders"
CVE_PRODUCT = "otter"

DEPENDS += "u-boot-mkimage-native"

require recipes-support/otter/otter-source.inc

inherit deploy

# U-Boot's image architecture for the script header (arm suits arm64 boards' U-Boot too).
OTTER_UBOOT_ARCH ?= "arm"

do_compile() {
    mkimage -A ${OTTER_UBOOT_ARCH} -T script -C none -n "otter boot script" \
        -d ${S}/bootloader/u-boot/boot.cmd ${B}/boot.scr
}

do_install() {
    install -D -m 0755 ${S}/bootloader/grub/otter-grub-menu ${D}${libexecdir}/otter/otter-grub-menu
}

do_deploy() {
    install -D -m 0644 ${B}/boot.scr ${DEPLOYDIR}/otter/boot.scr
    install -D -m 0644 ${S}/bootloader/u-boot/otter-env.txt ${DEPLOYDIR}/otter/otter-env.txt
    install -D -m 0644 ${S}/bootloader/u-boot/fw_env.config ${DEPLOYDIR}/otter/fw_env.config
    install -D -m 0644 ${S}/bootloader/grub/grub.cfg ${DEPLOYDIR}/otter/grub.cfg
}
addtask deploy after do_compile before do_build

FILES:${PN} += "${libexecdir}/otter"
RDEPENDS:${PN} += "busybox"
