# nooelint: oelint.var.bbclassextend - A device agent: no native or SDK variant.
SUMMARY = "Otter update agent for OSTree-based devices"
DESCRIPTION = "Installs OSTree OS updates and Docker Compose apps from TUF-signed Targets, checks boot health and rolls back through the bootloader's boot counter."
# nooelint: oelint.vars.homepageping - a placeholder until the project has a public home; the check needs the network
HOMEPAGE = "https://git.example.invalid/otter"
BUGTRACKER = "https://git.example.invalid/otter/issues"
SECTION = "admin"
CVE_PRODUCT = "otter"

# The C libraries Otter's modules wrap (Package.swift's system libraries).
DEPENDS += "curl glib-2.0 libarchive openssl ostree sqlite3"

require otter-source.inc

# SwiftPM dependencies, fetched by BitBake (so they land in DL_DIR and its mirrors) instead of by
# SwiftPM at build time. Each SRCREV_<name> is the revision the repository's Package.resolved
# pins (the IntegrationTests check that they agree). do_otter_swiftpm_mirrors points SwiftPM at
# these checkouts, so resolving the package needs no network.
SRC_URI += "git://github.com/apple/swift-argument-parser;protocol=https;nobranch=1;name=swift-argument-parser;destsuffix=swiftpm/swift-argument-parser \
            git://github.com/apple/swift-log;protocol=https;nobranch=1;name=swift-log;destsuffix=swiftpm/swift-log \
            git://github.com/groue/GRDB.swift;protocol=https;nobranch=1;name=grdb.swift;destsuffix=swiftpm/grdb.swift \
            git://github.com/LebJe/TOMLKit;protocol=https;nobranch=1;name=tomlkit;destsuffix=swiftpm/tomlkit \
            git://github.com/jpsim/Yams;protocol=https;nobranch=1;name=yams;destsuffix=swiftpm/yams \
            git://github.com/swift-server/swift-service-lifecycle;protocol=https;nobranch=1;name=swift-service-lifecycle;destsuffix=swiftpm/swift-service-lifecycle \
            git://github.com/apple/swift-async-algorithms.git;protocol=https;nobranch=1;name=swift-async-algorithms;destsuffix=swiftpm/swift-async-algorithms \
            git://github.com/apple/swift-collections.git;protocol=https;nobranch=1;name=swift-collections;destsuffix=swiftpm/swift-collections"
SRCREV_swift-argument-parser = "436bde4bb9489201ca6662f5cf94ec45fa8e244e"
SRCREV_swift-log = "c2cb5297956b2a95420f70d1f51e8dc4b4f94708"
SRCREV_grdb.swift = "a60dcff33d97a98b21425f1894587145d3efda50"
SRCREV_tomlkit = "bebd313dec74a93cadc8b5677bb17ad6e45414f7"
SRCREV_yams = "473e618fc72bf29741906dd2873cfd5892039c3e"
SRCREV_swift-service-lifecycle = "965f555e29a4bbd6248008d58d38e5600c8f2436"
SRCREV_swift-async-algorithms = "6d516c3a2b6997945cc435bd8afcd761d748a7b9"
SRCREV_swift-collections = "b9f4b3586ced378bbddc36a676d2aca082492ed9"

inherit swift systemd

# nooelint: oelint.vars.mispell.unknown - the swift class's extra SwiftPM arguments
EXTRA_OESWIFT = "--product otter"

# uboot (fw_env.config) or grub (grubenv): the backend the default conf.d fragment selects.
OTTER_BOOTLOADER ?= "uboot"

# name=url pairs: SwiftPM fetches url from ${WORKDIR}/swiftpm/name instead.
OTTER_SWIFTPM_MIRRORS = "swift-argument-parser=https://github.com/apple/swift-argument-parser \
                         swift-log=https://github.com/apple/swift-log \
                         grdb.swift=https://github.com/groue/GRDB.swift \
                         tomlkit=https://github.com/LebJe/TOMLKit \
                         yams=https://github.com/jpsim/Yams \
                         swift-service-lifecycle=https://github.com/swift-server/swift-service-lifecycle \
                         swift-async-algorithms=https://github.com/apple/swift-async-algorithms.git \
                         swift-collections=https://github.com/apple/swift-collections.git"

do_install() {
    ${S}/scripts/install --destdir ${D} --prefix ${prefix} --sysconfdir ${sysconfdir} \
        --unitdir ${systemd_system_unitdir} --otter ${B}/${BUILD_MODE}/otter \
        --bootloader ${OTTER_BOOTLOADER}
}

do_otter_swiftpm_mirrors() {
    for pair in ${OTTER_SWIFTPM_MIRRORS}; do
        swift package --package-path ${S} config set-mirror \
            --original "${pair#*=}" --mirror "${WORKDIR}/swiftpm/${pair%%=*}"
    done
}
do_otter_swiftpm_mirrors[doc] = "Points SwiftPM at the dependency checkouts BitBake fetched"
do_otter_swiftpm_mirrors[depends] += "swift-native:do_populate_sysroot"
addtask otter_swiftpm_mirrors after do_unpack before do_configure

SYSTEMD_SERVICE:${PN} = "otter.service otter-health.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"

FILES:${PN} += "${libexecdir}/otter \
                ${nonarch_libdir}/otter \
                ${systemd_system_unitdir}/otter-rollback.service \
                ${systemd_system_unitdir}/otter-rollback.target"

# ostree for the deployments, the Swift runtime, and the bootloader tool Otter's backend drives
# (fw_printenv/fw_setenv from libubootenv, or grub-editenv on GRUB devices).
OTTER_BOOTLOADER_TOOL = "${@bb.utils.contains('OTTER_BOOTLOADER', 'uboot', 'libubootenv-bin', 'grub-editenv', d)}"
RDEPENDS:${PN} += "${OTTER_BOOTLOADER_TOOL} libdispatch libfoundation ostree swift-stdlib"
RRECOMMENDS:${PN} += "docker-compose"

# meta-lmp installs ${SOTA_CLIENT} and makes lmp-device-register and fioconfig depend on it:
# SOTA_CLIENT = "otter" selects this package by its own name; the generic name lets other
# images ask for "a SOTA client".
RPROVIDES:${PN} += "virtual-sota-client"
RCONFLICTS:${PN} += "aktualizr-lite"
