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
SRC_URI += "git://github.com/swift-server/async-http-client.git;protocol=https;nobranch=1;name=async-http-client;destsuffix=swiftpm/async-http-client \
            git://github.com/groue/GRDB.swift;protocol=https;nobranch=1;name=grdb.swift;destsuffix=swiftpm/grdb.swift \
            git://github.com/hummingbird-project/hummingbird;protocol=https;nobranch=1;name=hummingbird;destsuffix=swiftpm/hummingbird \
            git://github.com/vapor/postgres-nio;protocol=https;nobranch=1;name=postgres-nio;destsuffix=swiftpm/postgres-nio \
            git://github.com/apple/swift-algorithms.git;protocol=https;nobranch=1;name=swift-algorithms;destsuffix=swiftpm/swift-algorithms \
            git://github.com/apple/swift-argument-parser;protocol=https;nobranch=1;name=swift-argument-parser;destsuffix=swiftpm/swift-argument-parser \
            git://github.com/apple/swift-asn1.git;protocol=https;nobranch=1;name=swift-asn1;destsuffix=swiftpm/swift-asn1 \
            git://github.com/apple/swift-async-algorithms.git;protocol=https;nobranch=1;name=swift-async-algorithms;destsuffix=swiftpm/swift-async-algorithms \
            git://github.com/apple/swift-atomics.git;protocol=https;nobranch=1;name=swift-atomics;destsuffix=swiftpm/swift-atomics \
            git://github.com/apple/swift-certificates.git;protocol=https;nobranch=1;name=swift-certificates;destsuffix=swiftpm/swift-certificates \
            git://github.com/apple/swift-collections.git;protocol=https;nobranch=1;name=swift-collections;destsuffix=swiftpm/swift-collections \
            git://github.com/apple/swift-configuration.git;protocol=https;nobranch=1;name=swift-configuration;destsuffix=swiftpm/swift-configuration \
            git://github.com/apple/swift-crypto.git;protocol=https;nobranch=1;name=swift-crypto;destsuffix=swiftpm/swift-crypto \
            git://github.com/apple/swift-distributed-tracing.git;protocol=https;nobranch=1;name=swift-distributed-tracing;destsuffix=swiftpm/swift-distributed-tracing \
            git://github.com/apple/swift-http-structured-headers.git;protocol=https;nobranch=1;name=swift-http-structured-headers;destsuffix=swiftpm/swift-http-structured-headers \
            git://github.com/apple/swift-http-types;protocol=https;nobranch=1;name=swift-http-types;destsuffix=swiftpm/swift-http-types \
            git://github.com/apple/swift-log;protocol=https;nobranch=1;name=swift-log;destsuffix=swiftpm/swift-log \
            git://github.com/apple/swift-metrics.git;protocol=https;nobranch=1;name=swift-metrics;destsuffix=swiftpm/swift-metrics \
            git://github.com/apple/swift-nio;protocol=https;nobranch=1;name=swift-nio;destsuffix=swiftpm/swift-nio \
            git://github.com/apple/swift-nio-extras.git;protocol=https;nobranch=1;name=swift-nio-extras;destsuffix=swiftpm/swift-nio-extras \
            git://github.com/apple/swift-nio-http2.git;protocol=https;nobranch=1;name=swift-nio-http2;destsuffix=swiftpm/swift-nio-http2 \
            git://github.com/apple/swift-nio-ssl;protocol=https;nobranch=1;name=swift-nio-ssl;destsuffix=swiftpm/swift-nio-ssl \
            git://github.com/apple/swift-nio-transport-services.git;protocol=https;nobranch=1;name=swift-nio-transport-services;destsuffix=swiftpm/swift-nio-transport-services \
            git://github.com/apple/swift-numerics.git;protocol=https;nobranch=1;name=swift-numerics;destsuffix=swiftpm/swift-numerics \
            git://github.com/apple/swift-service-context.git;protocol=https;nobranch=1;name=swift-service-context;destsuffix=swiftpm/swift-service-context \
            git://github.com/swift-server/swift-service-lifecycle;protocol=https;nobranch=1;name=swift-service-lifecycle;destsuffix=swiftpm/swift-service-lifecycle \
            git://github.com/apple/swift-system;protocol=https;nobranch=1;name=swift-system;destsuffix=swiftpm/swift-system"
SRCREV_async-http-client = "3665dee56525b865b786d538c567648b76899fc7"
SRCREV_grdb.swift = "a60dcff33d97a98b21425f1894587145d3efda50"
SRCREV_hummingbird = "26726d0d184fa595ab671bc762836684d9d6d3ea"
SRCREV_postgres-nio = "e78966bb3d490debcdf012dd9ae2eb4dad70cbff"
SRCREV_swift-algorithms = "0f7a7a1376bd37a3474591497430631c7189718d"
SRCREV_swift-argument-parser = "436bde4bb9489201ca6662f5cf94ec45fa8e244e"
SRCREV_swift-asn1 = "d619dd5bb47ba9ea182340c612ae38c70c78d97e"
SRCREV_swift-async-algorithms = "6d516c3a2b6997945cc435bd8afcd761d748a7b9"
SRCREV_swift-atomics = "6c7dbee0cc6840dffa75a29a46834d0714135e93"
SRCREV_swift-certificates = "a65fde60dd48d7eb6a427dc0cc23b74bb051360a"
SRCREV_swift-collections = "b9f4b3586ced378bbddc36a676d2aca082492ed9"
SRCREV_swift-configuration = "3bf6ec506fe6e3daeb65f9ddec52e906a255951c"
SRCREV_swift-crypto = "778f0d7e1c5105b97a115198b48b593d214fbcd1"
SRCREV_swift-distributed-tracing = "eb61c2ef0c0a0eb092b8835e1fdabd5aa583c985"
SRCREV_swift-http-structured-headers = "669ed934446c7d7a1489128ec25b043a8969d9ab"
SRCREV_swift-http-types = "c5022b87b2147f8ce312c72ca00ea0b3279ea236"
SRCREV_swift-log = "c2cb5297956b2a95420f70d1f51e8dc4b4f94708"
SRCREV_swift-metrics = "02299eb0b009b1161dfb2a4bf606fd4c67f54310"
SRCREV_swift-nio = "cb5a7340e5f89ca4e8a44687d1979ace078be128"
SRCREV_swift-nio-extras = "07f2c690a470bbe26657270a1649528b612f6fd4"
SRCREV_swift-nio-http2 = "1a3ee02f038410190095431e7fc7cec4f7f37fd2"
SRCREV_swift-nio-ssl = "6a0b72b1711d3852295049005f43632b48a68f84"
SRCREV_swift-nio-transport-services = "b1da444fa5db799b81176ad60366251f2ce1660d"
SRCREV_swift-numerics = "b9d67f8a676201a0a12c9ad876a0b50572aaf905"
SRCREV_swift-service-context = "8ed580e3cc6a586d7b45e6c8b18af1fc0e6af73c"
SRCREV_swift-service-lifecycle = "965f555e29a4bbd6248008d58d38e5600c8f2436"
SRCREV_swift-system = "a7b0cdcbe3928cc5501238df4756be9a5db11b83"

inherit swift systemd

# nooelint: oelint.vars.mispell.unknown - the swift class's extra SwiftPM arguments
EXTRA_OESWIFT = "--product otter"

# uboot (fw_env.config) or grub (grubenv): the backend the default conf.d fragment selects.
OTTER_BOOTLOADER ?= "uboot"

# name=url pairs: SwiftPM fetches url from ${WORKDIR}/swiftpm/name instead.
OTTER_SWIFTPM_MIRRORS = "async-http-client=https://github.com/swift-server/async-http-client.git \
                         grdb.swift=https://github.com/groue/GRDB.swift \
                         hummingbird=https://github.com/hummingbird-project/hummingbird \
                         postgres-nio=https://github.com/vapor/postgres-nio \
                         swift-algorithms=https://github.com/apple/swift-algorithms.git \
                         swift-argument-parser=https://github.com/apple/swift-argument-parser \
                         swift-asn1=https://github.com/apple/swift-asn1.git \
                         swift-async-algorithms=https://github.com/apple/swift-async-algorithms.git \
                         swift-atomics=https://github.com/apple/swift-atomics.git \
                         swift-certificates=https://github.com/apple/swift-certificates.git \
                         swift-collections=https://github.com/apple/swift-collections.git \
                         swift-configuration=https://github.com/apple/swift-configuration.git \
                         swift-crypto=https://github.com/apple/swift-crypto.git \
                         swift-distributed-tracing=https://github.com/apple/swift-distributed-tracing.git \
                         swift-http-structured-headers=https://github.com/apple/swift-http-structured-headers.git \
                         swift-http-types=https://github.com/apple/swift-http-types \
                         swift-log=https://github.com/apple/swift-log \
                         swift-metrics=https://github.com/apple/swift-metrics.git \
                         swift-nio=https://github.com/apple/swift-nio \
                         swift-nio-extras=https://github.com/apple/swift-nio-extras.git \
                         swift-nio-http2=https://github.com/apple/swift-nio-http2.git \
                         swift-nio-ssl=https://github.com/apple/swift-nio-ssl \
                         swift-nio-transport-services=https://github.com/apple/swift-nio-transport-services.git \
                         swift-numerics=https://github.com/apple/swift-numerics.git \
                         swift-service-context=https://github.com/apple/swift-service-context.git \
                         swift-service-lifecycle=https://github.com/swift-server/swift-service-lifecycle \
                         swift-system=https://github.com/apple/swift-system"

# SwiftPM builds one --product per call: the class's compile builds otter, this one builds
# otter-supervisor (what `otter daemon` becomes between checks) into the same build folder.
do_compile:append() {
    ${@d.getVar('swift_do_compile').replace(d.getVar('EXTRA_OESWIFT'), '--product otter-supervisor')}
}

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
