# Builds what scripts/vm-test boots: a Debian guest userland (debootstrap, cached), OS commits
# v1, v2, v2-bad and v3 published by otter-factory, a GPT-less MBR disk with a FAT ESP (Otter's
# grub.cfg, grubenv, the menu otter-grub-menu makes, GRUB's EFI image) and an ext4 OSTree sysroot
# with v1 deployed, booted by OVMF.
# shellcheck shell=bash
# shellcheck disable=SC2154 # repo, build, otter_bin, factory_bin are set by scripts/vm-test

vm_lib=$repo/scripts/lib/vm
kernel_package=linux-image-6.1.0-57-amd64
# The guest's packages: systemd as init, ostree-boot (ostree-prepare-root, the staged-deployment
# finalizer, the /var generator) and the C libraries the otter binary links.
guest_packages=systemd,systemd-sysv,udev,ostree-boot,libostree-1-1,libsqlite3-0,libcurl4,libssl3,libarchive13,libglib2.0-0,libxml2,libyaml-0-2,ostree,kmod
hwid=otter-vm

log() { printf '%s vm-test: %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# ---- the cached part: debootstrap tree and kernel package, keyed by their inputs
guest_tree() {
  local key dir
  key=$(printf '%s\n' "$guest_packages" "$kernel_package" "$(debootstrap --version 2>/dev/null || dpkg-query -W -f='${Version}' debootstrap)" \
    | sha256sum | cut -c1-16)
  dir=$build/cache/rootfs-$key
  if [ ! -f "$dir.done" ]; then
    log "debootstrap --variant=minbase bookworm ($guest_packages) into $dir (cached from now on)" >&2
    rm -rf "$dir"
    debootstrap --variant=minbase --include="$guest_packages" bookworm "$dir" http://deb.debian.org/debian >"$build/debootstrap.log" 2>&1 \
      || { tail -20 "$build/debootstrap.log" >&2; echo "vm-test: debootstrap failed (log $build/debootstrap.log)" >&2; return 1; }
    rm -rf "$dir/var/cache/apt/archives/"*.deb "$dir/var/lib/apt/lists/"*
    mkdir -p "$build/cache/debs"
    (cd "$build/cache/debs" && apt-get download -q "$kernel_package" >/dev/null 2>&1)
    mkdir -p "$dir.kernel"
    dpkg-deb -x "$build/cache/debs/${kernel_package}"_*.deb "$dir.kernel"
    cp -a "$dir.kernel/lib/modules" "$dir/usr/lib/"
    prune_tree "$dir" "${kernel_package#linux-image-}"
    chroot "$dir" depmod "${kernel_package#linux-image-}"
    touch "$dir.done"
  fi
  echo "$dir"
}

# What a virtio guest never uses goes, so committing the tree is quick under a busy CPU: the
# kernel modules but disks, file systems, crypto and fw_cfg; documentation and translations.
prune_tree() { # DIR KVER
  local k=$1/usr/lib/modules/$2/kernel d
  for d in "$k"/*; do case "${d##*/}" in fs|crypto|lib|arch|block|drivers) ;; *) rm -rf "$d" ;; esac; done
  for d in "$k"/drivers/*; do case "${d##*/}" in virtio|block|firmware|char) ;; *) rm -rf "$d" ;; esac; done
  for d in "$k"/fs/*; do case "${d##*/}" in ext4|fat|jbd2|mbcache.ko|nls) ;; *) rm -rf "$d" ;; esac; done
  rm -rf "$1/usr/share/doc" "$1/usr/share/locale" "$1/usr/share/man" "$1/usr/share/info"
}

# The initramfs: busybox, the disk and filesystem modules (with their dependencies, in load
# order) and ostree-prepare-root with its libraries.
make_initramfs() { # KERNEL_TREE KVER OUT
  local ktree=$1 kver=$2 out=$3 d
  d=$(mktemp -d "$build/initramfs.XXXXXX")
  mkdir -p "$d/bin" "$d/run" "$d/proc" "$d/sys" "$d/dev" "$d/sysroot" "$d/modules" "$d/usr/lib/ostree"
  cp /bin/busybox "$d/bin/busybox"
  cp "$vm_lib/initramfs-init" "$d/init"
  chmod +x "$d/init"
  local mods=$ktree/usr/lib/modules/$kver
  local want=(virtio_pci virtio_blk crc32c_generic crc32c_intel ext4)
  local ordered=()
  add_module() {
    local name=$1 path deps dep
    path=$(grep -E "(^|/)${name//_/[_-]}\.ko(\.xz)?:" "$mods/modules.dep" | head -1 | cut -d: -f1)
    [ -n "$path" ] || return 0   # built in
    case " ${ordered[*]} " in *" $path "*) return 0 ;; esac
    deps=$(grep -E "^$path:" "$mods/modules.dep" | cut -d: -f2)
    for dep in $deps; do add_module "$(basename "$dep" | sed 's/\.ko.*//')"; done
    ordered+=("$path")
  }
  for m in "${want[@]}"; do add_module "$m"; done
  for path in "${ordered[@]}"; do
    local base
    base=$(basename "$path" .xz)
    case "$path" in
      *.xz) xz -dc "$mods/$path" > "$d/modules/$base" ;;
      *) cp "$mods/$path" "$d/modules/$base" ;;
    esac
    echo "$base" >> "$d/modules/order"
  done
  cp /usr/lib/ostree/ostree-prepare-root "$d/usr/lib/ostree/"
  local lib
  for lib in $(ldd /usr/lib/ostree/ostree-prepare-root | grep -o '/[^ ]*'); do
    mkdir -p "$d$(dirname "$lib")"
    cp -L "$lib" "$d$lib"
  done
  (cd "$d" && find . | cpio -o -H newc --quiet | gzip -1) > "$out"
  rm -rf "$d"
}

# ---- the OS versions
# The common tree: the cached userland, the kernel, the initramfs, Otter installed by
# scripts/install (binary, units, config) with its Swift runtime, the factory's keys, the vm
# glue (fstab, the GRUB menu hook, the console report), then etc → usr/etc for OSTree.
make_base_rootfs() { # OUT
  local out=$1 tree kver
  tree=$(guest_tree)
  rm -rf "$out"
  mkdir -p "$(dirname "$out")"
  cp -a "$tree" "$out"
  kver=${kernel_package#linux-image-}
  cp "$tree.kernel/boot/vmlinuz-$kver" "$out/usr/lib/modules/$kver/vmlinuz"
  make_initramfs "$tree" "$kver" "$out/usr/lib/modules/$kver/initramfs.img"
  "$repo/scripts/install" --destdir "$out" --otter "$otter_bin" --bootloader grub >/dev/null
  # The Swift runtime the release binary links (the toolchain's, same as on the build host).
  mkdir -p "$out/usr/lib/otter/swift"
  ldd "$otter_bin" | grep -o '/opt/swift/[^ ]*' | while read -r lib; do cp -L "$lib" "$out/usr/lib/otter/swift/"; done
  echo /usr/lib/otter/swift > "$out/etc/ld.so.conf.d/otter-swift.conf"
  chroot "$out" /sbin/ldconfig
  # A library the binary links but the guest lacks would only show as a failed unit at boot.
  local missing
  missing=$(chroot "$out" ldd /usr/bin/otter /usr/libexec/otter/otter-supervisor | grep 'not found' || true)
  if [ -n "$missing" ]; then
    echo "vm-test: the guest lacks libraries otter links: $missing; add their Debian packages to guest_packages in scripts/lib/vm/image.sh" >&2
    return 1
  fi
  # Factory trust: the TUF root and the OSTree commit key.
  install -D -m 0644 "$factory/tuf/ci/1.root.json" "$out/usr/lib/otter/tuf/root.json"
  install -D -m 0644 "$factory/keys/ostree/ed25519.pub" "$out/etc/otter/trusted.ed25519.d/factory.pub"
  install -D -m 0644 "$vm_lib/guest/50-vm.toml" "$out/usr/lib/otter/conf.d/50-vm.toml"
  install -D -m 0644 "$vm_lib/guest/fstab" "$out/etc/fstab"
  install -D -m 0755 "$vm_lib/guest/otter-vm-report" "$out/usr/libexec/otter-vm/report"
  install -D -m 0755 "$vm_lib/guest/otter-vm-fsck" "$out/usr/libexec/otter-vm/fsck"
  local unit
  for unit in otter-vm-grub-menu.service otter-vm-report.service otter-vm-fsck.service; do
    install -D -m 0644 "$vm_lib/guest/$unit" "$out/usr/lib/systemd/system/$unit"
  done
  local dropin
  for dropin in otter.service otter-health.service; do
    install -D -m 0644 "$vm_lib/guest/otter-console.conf" "$out/usr/lib/systemd/system/$dropin.d/50-vm-console.conf"
  done
  mkdir -p "$out/media/factory" "$out/sysroot"
  echo otter-vm > "$out/etc/hostname"
  : > "$out/etc/machine-id"
  # Enable Otter's units the way `systemctl enable` does (their [Install] sections).
  chroot "$out" systemctl enable otter.service otter-health.service otter-vm-grub-menu.service otter-vm-report.service \
    otter-vm-fsck.service ostree-finalize-staged.path ostree-remount.service >/dev/null 2>&1
  # Quiet and quick under emulation: nothing on a timer, no getty to wait for.
  chroot "$out" systemctl mask apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer \
    systemd-timesyncd.service getty@tty1.service serial-getty@ttyS0.service getty-static.service e2scrub_reap.service >/dev/null 2>&1 || true
  # OSTree layout: configuration defaults in usr/etc, an empty var, no kernel under /boot.
  mv "$out/etc" "$out/usr/etc"
  rm -rf "${out:?}/var" "${out:?}/boot" "${out:?}/home" "${out:?}/root" "${out:?}/srv" "${out:?}/opt" "${out:?}/tmp" "${out:?}/mnt"
  mkdir -p "$out/var" "$out/boot" "$out/tmp"
  ln -s sysroot/ostree "$out/ostree"   # libostree finds the booted sysroot's repo at /ostree/repo
  ln -s var/home "$out/home"; ln -s var/roothome "$out/root"; ln -s var/srv "$out/srv"; ln -s var/opt "$out/opt"; ln -s var/mnt "$out/mnt"
  rm -rf "${out:?}/dev/"* "${out:?}/proc/"* "${out:?}/sys/"* "${out:?}/run/"*
}

# One version: its os-release and, per kind, what makes it fail, as a directory laid over v1's
# commit (so only these files are committed anew).
make_overlay() { # OUT VERSION KIND(good|health-fail|panic)
  local out=$1 version=$2 kind=$3
  rm -rf "$out"
  mkdir -p "$out/usr/lib"
  printf 'ID=otter-vm\nPRETTY_NAME="Otter vm-test OS %s (%s)"\nVERSION_ID=%s\n' "$version" "$kind" "$version" > "$out/usr/lib/os-release"
  case "$kind" in
    health-fail)
      mkdir -p "$out/usr/etc/otter/health/required.d"
      printf '#!/bin/sh\necho "vm-test: version %s fails its required check on purpose"\nexit 1\n' "$version" \
        > "$out/usr/etc/otter/health/required.d/50-vm-fails"
      chmod 0755 "$out/usr/etc/otter/health/required.d/50-vm-fails" ;;
    panic)
      # init exits at once: the kernel panics before user space (panic=1 resets the machine).
      mkdir -p "$out/usr/sbin"
      printf '#!/bin/sh\necho "vm-test: version %s has a broken init"\nexit 1\n' "$version" > "$out/usr/sbin/init"
      chmod 0755 "$out/usr/sbin/init" ;;
  esac
}

# ---- the factory: keys, the OS commits; Targets are added per scenario
declare -A commit
make_factory() {
  factory=$build/factory-base
  rm -rf "$factory" "$build/rootfs"
  "$factory_bin" init "$factory" >/dev/null
  log "guest root file system (otter $(du -h "$otter_bin" | cut -f1), kernel $kernel_package)"
  make_base_rootfs "$build/rootfs/base"
  make_overlay "$build/rootfs/overlay" 1 good
  cp -a "$build/rootfs/overlay/." "$build/rootfs/base/"
  commit[1]=$("$factory_bin" os publish --factory "$factory" "$build/rootfs/base" --version 1 --hwid "$hwid" 2>/dev/null)
  log "OS 1 (good) = ${commit[1]}"
  local spec version kind sha
  for spec in 2:good 20:health-fail 3:panic; do
    version=${spec%%:*}; kind=${spec#*:}
    make_overlay "$build/rootfs/overlay" "$version" "$kind"
    sha=$(ostree commit --repo="$factory/ostree" --branch="vm-test/build/$version" --subject="vm-test OS $version ($kind)" \
      --add-metadata-string=version="$version" --tree=ref="${commit[1]}" --tree=dir="$build/rootfs/overlay")
    commit[$version]=$("$factory_bin" os publish --factory "$factory" --commit "$sha" --hwid "$hwid" 2>/dev/null)
    log "OS $version ($kind) = ${commit[$version]}"
  done
  rm -rf "$build/rootfs"
}

# A copy of the base factory with these Targets (VERSION:OSVERSION ...), as an ext4 disk image.
make_factory_disk() { # OUT TARGET...
  local out=$1 dir; shift
  dir=$build/factory-disk.d
  rm -rf "$dir"
  cp -a "$build/factory-base" "$dir"
  local t
  for t in "$@"; do
    "$factory_bin" targets add --factory "$dir" --version "${t%%:*}" --hwid "$hwid" --tag main --os "${commit[${t#*:}]}" >/dev/null
  done
  rm -rf "$dir/keys"   # the device needs none of the factory's secrets
  rm -f "$out"
  mkfs.ext4 -q -L factory -d "$dir" "$out" "$(( $(du -sm "$dir" | cut -f1) * 3 / 2 + 64 ))M" >/dev/null
  rm -rf "$dir"
}

# ---- the device disk: ESP (FAT: GRUB, its grub.cfg, grubenv and menu) + ext4 OSTree sysroot with v1 deployed
kargs=(root=LABEL=otroot rw "console=ttyS0,115200" panic=1 loglevel=4 systemd.show_status=1)
make_disk() { # OUT
  local out=$1 sysroot=$build/sysroot esp=$build/esp.img root=$build/root.img
  chattr -R -i "$sysroot" 2>/dev/null || true
  rm -rf "$sysroot"; mkdir -p "$sysroot"
  ostree admin init-fs "$sysroot" >/dev/null
  ostree admin os-init --sysroot="$sysroot" otter >/dev/null
  ostree config --repo="$sysroot/ostree/repo" set sysroot.bootloader none
  ostree --repo="$sysroot/ostree/repo" pull-local "$build/factory-base/ostree" "${commit[1]}" >/dev/null
  local karg args=()
  for karg in "${kargs[@]}"; do args+=(--karg="$karg"); done
  ostree admin deploy --sysroot="$sysroot" --os=otter "${args[@]}" "${commit[1]}" >/dev/null
  mkdir -p "$sysroot/boot/efi"
  # ESP: Otter's grub.cfg exactly as shipped, its grubenv, the menu from ostree's entries.
  local efi=$build/esp.d
  rm -rf "$efi"; mkdir -p "$efi/EFI/BOOT"
  cp "$repo/bootloader/grub/grub.cfg" "$efi/EFI/BOOT/grub.cfg"
  make_grub "$efi/EFI/BOOT/BOOTX64.EFI"
  grub-editenv "$efi/EFI/BOOT/grubenv" create
  grub-editenv "$efi/EFI/BOOT/grubenv" set bootlimit=3
  "$repo/bootloader/grub/otter-grub-menu" --boot-prefix /boot --search-label otroot \
    "$sysroot/boot/loader/entries" "$efi/EFI/BOOT/otter-entries.cfg"
  rm -f "$esp"
  mkfs.vfat -n OTTERESP -C "$esp" $((32 * 1024)) >/dev/null
  mcopy -s -i "$esp" "$efi/EFI" ::/
  local root_mb
  root_mb=$(( $(du -sm "$sysroot" | cut -f1) + 1536 ))
  rm -f "$root"
  mkfs.ext4 -q -L otroot -d "$sysroot" "$root" "${root_mb}M" >/dev/null
  # MBR: 1 MiB gap, ESP 32 MiB, root.
  rm -f "$out"
  truncate -s $(( 1 + 32 + root_mb + 1 ))M "$out"
  printf 'label: dos\nstart=2048, size=65536, type=ef, bootable\nstart=67584, size=%d, type=83\n' $((root_mb * 2048)) \
    | sfdisk -q "$out"
  dd if="$esp" of="$out" bs=1M seek=1 conv=notrunc,sparse status=none
  dd if="$root" of="$out" bs=1M seek=33 conv=notrunc,sparse status=none
  chattr -i "$sysroot"/ostree/deploy/*/deploy/* 2>/dev/null || true
  rm -rf "$sysroot" "$efi" "$esp" "$root"
}

# GRUB: Debian's x86_64-efi GRUB as the ESP's removable-media loader (EFI/BOOT/BOOTX64.EFI,
# what OVMF boots), finding the ESP by label and talking on the serial console; its prefix is
# the folder of Otter's grub.cfg.
make_grub() { # OUT_EFI
  cat > "$build/grub-early.cfg" <<'CFG'
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
search --no-floppy --label --set=root OTTERESP
set prefix=($root)/EFI/BOOT
CFG
  grub-mkimage -O x86_64-efi -o "$1" -c "$build/grub-early.cfg" -p /EFI/BOOT \
    part_msdos fat ext2 normal configfile echo test loadenv linux search search_label gzio serial terminal efi_gop
}

# Reads the device disk's grubenv (FAT partition at 1 MiB).
disk_grubenv() { # DISK
  local tmp
  tmp=$(mktemp)
  mcopy -o -i "$1@@1M" ::/EFI/BOOT/grubenv "$tmp"
  grub-editenv "$tmp" list | tr '\n' ' '
  rm -f "$tmp"
}
