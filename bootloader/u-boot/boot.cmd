# Otter boot script for U-Boot: boots the OSTree deployment ostree's U-Boot backend writes into
# /boot/loader/uEnv.txt, counts boots while an upgrade is on trial and falls back to the previous
# deployment past the limit. Compile: mkimage -A arm -T script -C none -d boot.cmd boot.scr
#
# The counting variables (names as aktualizr's uboot_masked and LmP's boot script use them; Otter's
# Bootloader module writes them, BootCountingScheme.upgradeAvailable):
#   upgrade_available  1 = the deployment Otter just staged is on trial: count its boots
#   bootcount          boots counted since Otter armed the upgrade (Otter resets it to 0)
#   bootlimit          boots the new deployment gets; bootcount > bootlimit falls back (default 3)
#   rollback           1 = the script gave up on the new deployment: boot kernel_image2 until
#                      Otter has made the running deployment the default and cleared it
# U-Boot's setexpr and itest count in hex: keep bootlimit below 10 so both readings agree.
#
# Where the counter lives: the U-Boot environment (saveenv; fw_setenv/Otter's "uboot" backend on
# Linux), unless the boot partition holds the file ${otter_counter_file} (default otter-env.txt):
# then it is read with `env import -t` and written back with `fatwrite` (Otter's "file" backend
# keeps the same name=value lines). Use the file on boards whose environment is not writable.
#
# Board settings (set them in the default environment to override):
#   otter_devtype/otter_devnum/otter_part  where this script, the counter file and uEnv.txt are
#                      (default: the device distro boot found this script on)
#   otter_uenv         ostree's uEnv.txt on that partition (default /boot/loader/uEnv.txt)
#   otter_bootprefix   prefix for ostree's /boot-relative paths (default /boot; "" when /boot is
#                      its own partition)
#   otter_kernel_cmd   bootz (32-bit zImage, default) or booti (arm64 Image)
#   otter_fdt_addr     the device tree to pass (default ${fdt_addr}, as QEMU and firmware give it)

echo "otter: boot script"

# ---- defaults
if test -z "${otter_devtype}"; then setenv otter_devtype "${devtype}"; fi
if test -z "${otter_devnum}"; then setenv otter_devnum "${devnum}"; fi
if test -z "${otter_part}"; then setenv otter_part "${distro_bootpart}"; fi
if test -z "${otter_uenv}"; then setenv otter_uenv /boot/loader/uEnv.txt; fi
if test -z "${otter_bootprefix}"; then setenv otter_bootprefix /boot; fi
if test "${otter_bootprefix}" = none; then setenv otter_bootprefix; fi
if test -z "${otter_kernel_cmd}"; then setenv otter_kernel_cmd bootz; fi
if test -z "${otter_fdt_addr}"; then setenv otter_fdt_addr "${fdt_addr}"; fi
if test -z "${otter_counter_file}"; then setenv otter_counter_file otter-env.txt; fi
if test -z "${bootlimit}"; then setenv bootlimit 3; fi
if test -z "${bootcount}"; then setenv bootcount 0; fi
if test -z "${upgrade_available}"; then setenv upgrade_available 0; fi
if test -z "${rollback}"; then setenv rollback 0; fi
setenv otter_counter_vars "upgrade_available bootcount bootlimit rollback"

# ---- the counter store: the file when it exists, else the U-Boot environment
setenv otter_store env
if test -e ${otter_devtype} ${otter_devnum}:${otter_part} ${otter_counter_file}; then
  if load ${otter_devtype} ${otter_devnum}:${otter_part} ${loadaddr} ${otter_counter_file}; then
    # Only the counting variables: the file cannot change bootcmd or anything else.
    env import -t ${loadaddr} ${filesize} ${otter_counter_vars}
    setenv otter_store file
  fi
fi
# `env export -t` ends its text with a NUL byte: write one byte less, so the file stays plain
# name=value lines for Otter and fw tools.
setenv otter_save_counter 'if test "${otter_store}" = file; then env export -t ${loadaddr} ${otter_counter_vars}; setexpr otter_size ${filesize} - 1; fatwrite ${otter_devtype} ${otter_devnum}:${otter_part} ${loadaddr} ${otter_counter_file} ${otter_size}; else saveenv; fi'

# ---- count this boot and decide
if test "${upgrade_available}" = 1; then
  setexpr bootcount ${bootcount} + 1
  if itest ${bootcount} -gt ${bootlimit}; then
    echo "otter: bootcount ${bootcount} > bootlimit ${bootlimit}: rolling back to the previous deployment"
    setenv rollback 1
    setenv upgrade_available 0
  fi
  run otter_save_counter
fi
echo "otter: upgrade_available=${upgrade_available} bootcount=${bootcount} bootlimit=${bootlimit} rollback=${rollback} store=${otter_store}"

# ---- ostree's deployments (clear stale values first, as LmP's script does)
setenv kernel_image
setenv ramdisk_image
setenv bootargs
setenv kernel_image2
setenv ramdisk_image2
setenv bootargs2
if load ${otter_devtype} ${otter_devnum}:${otter_part} ${loadaddr} ${otter_uenv}; then
  env import -t ${loadaddr} ${filesize} kernel_image ramdisk_image bootargs bootdir kernel_image2 ramdisk_image2 bootargs2 bootdir2
else
  echo "otter: cannot load ${otter_uenv} from ${otter_devtype} ${otter_devnum}:${otter_part}: is the OSTree sysroot deployed with sysroot.bootloader=uboot?"
fi

setenv otter_slot kernel_image
if test "${rollback}" = 1; then
  if test -n "${kernel_image2}"; then
    setenv otter_slot kernel_image2
    setenv kernel_image "${kernel_image2}"
    setenv ramdisk_image "${ramdisk_image2}"
    setenv bootargs "${bootargs2}"
  else
    echo "otter: rollback=1 but uEnv.txt has no kernel_image2: booting kernel_image"
  fi
fi

# ---- boot
echo "otter: booting ${otter_slot} ${kernel_image} ramdisk ${ramdisk_image} bootargs ${bootargs}"
if load ${otter_devtype} ${otter_devnum}:${otter_part} ${kernel_addr_r} "${otter_bootprefix}${kernel_image}"; then
  if load ${otter_devtype} ${otter_devnum}:${otter_part} ${ramdisk_addr_r} "${otter_bootprefix}${ramdisk_image}"; then
    ${otter_kernel_cmd} ${kernel_addr_r} ${ramdisk_addr_r}:${filesize} ${otter_fdt_addr}
  fi
fi
# Still here: the kernel did not start. Reset, so that (while upgrade_available=1) the next boot
# counts again and the limit is reached instead of stopping at this prompt.
echo "otter: ${otter_slot} did not boot; resetting"
reset
