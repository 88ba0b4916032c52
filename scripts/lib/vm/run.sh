# Runs the vm-test guest in QEMU (TCG, q35 with OVMF, no network) and
# reads its serial console. Every line of the console is stamped with the host's time as it
# arrives (<log>.ts), so waits and per-boot times come from the same record.
# shellcheck shell=bash
# shellcheck disable=SC2154 # build is set by scripts/vm-test

vm_pid=
vm_stamper=
# vm_start DISK FACTORY_DISK LOG MODE LIMIT_SECONDS: boots the machine in the background, in its
# own process group (timeout --foreground keeps QEMU in it). A reboot of the guest is a power
# cycle: QEMU runs with -no-reboot, exits at the guest's reset, and is started again at once on
# the same disks. (A warm reset under TCG left OVMF and GRUB 3-6 times slower: 20 s instead of
# 3 s to the firmware's boot menu, and 40 s more to load a kernel.) LIMIT_SECONDS bounds all the
# boots together.
vm_start() {
  local disk=$1 factory_disk=$2 log=$3 mode=$4 limit=$5
  : > "$log"
  rm -f "$build/qemu.pid"
  [ -f "$disk.vars" ] || cp /usr/share/OVMF/OVMF_VARS_4M.fd "$disk.vars"
  # shellcheck disable=SC2016 # expanded by the inner bash
  setsid bash -c '
    disk=$1 factory_disk=$2 log=$3 mode=$4 deadline=$(( $(date +%s) + $5 )) pidfile=$6
    while left=$(( deadline - $(date +%s) )); [ "$left" -gt 0 ]; do
      # -nodefaults: no default CD-ROM. Once OVMF has recorded boot options in the vars file, it
      # tried that empty drive first at every boot and gave up only after ~35-55 s.
      timeout --foreground -s KILL "$left" qemu-system-x86_64 -accel tcg -machine q35 -smp 2 -m 1024 -nodefaults -no-reboot \
         -nic none -display none -no-user-config -pidfile "$pidfile" -device virtio-rng-pci \
         -chardev "file,id=console,path=$log,append=on" -serial chardev:console \
         -drive "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd" -drive "if=pflash,format=raw,file=$disk.vars" \
         -drive "file=$disk,format=raw,if=none,id=system" -device virtio-blk-pci,drive=system,bootindex=0 \
         -drive "file=$factory_disk,format=raw,if=virtio,readonly=on" \
         -fw_cfg "name=opt/otter-vm/mode,string=$mode" || exit  # killed, or QEMU failed
    done' vm "$disk" "$factory_disk" "$log" "$mode" "$limit" "$build/qemu.pid" >>"$log.qemu" 2>&1 &
  vm_pid=$!
  ( tail -n +1 -F "$log" 2>/dev/null | while IFS= read -r line; do printf '%s %s\n' "$(date +%s.%N)" "${line//$'\r'/}"; done ) >> "$log.ts" &
  vm_stamper=$!
  echo "---- start $(date +%s.%N) mode=$mode" >> "$log.ts"
}

# Power cut: SIGKILL to QEMU and the loop that restarts it (the whole process group at once,
# so no new QEMU starts after the cut).
vm_kill() {
  if [ -n "$vm_pid" ]; then
    kill -9 -- "-$vm_pid" 2>/dev/null || true
    wait "$vm_pid" 2>/dev/null || true
  fi
  sleep 0.3
  if [ -n "$vm_stamper" ]; then pkill_tree "$vm_stamper"; fi
  vm_pid=''; vm_stamper=''
}

# Stops the stamper subshell and its tail (children by PID, never by name).
pkill_tree() {
  local pid=$1 child
  for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do pkill_tree "$child"; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

vm_running() { [ -n "$vm_pid" ] && kill -0 "$vm_pid" 2>/dev/null; }

# vm_wait LOG SECONDS EXTENDED_REGEX [AFTER_REGEX]: waits until the stamped console has a line
# matching since the last start (and after a line matching AFTER_REGEX, when given). Fails when
# QEMU ended or the time is up.
vm_wait() {
  local log=$1 seconds=$2 regex=$3 after=${4:-} deadline
  deadline=$(( $(date +%s) + seconds ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if seen "$log" "$regex" "$after"; then return 0; fi
    vm_running || { sleep 1; seen "$log" "$regex" "$after"; return; }
    sleep 0.5
  done
  return 1
}

seen() { # LOG REGEX AFTER_REGEX
  since_start "$1" | awk -v re="$2" -v after="$3" 'after == "" || $0 ~ after {armed = 1} armed && $0 ~ re {found = 1} END {exit !found}'
}

# log_has LOG REGEX: the console since the last start has a line matching. (Not `grep -q`: it
# exits at the first match, the writer gets SIGPIPE, and pipefail turns a match into a failure.)
log_has() { since_start "$1" | grep -E -- "$2" >/dev/null; }

since_start() { awk '/^---- start /{buf=""; next} {buf = buf $0 "\n"} END {printf "%s", buf}' "$1.ts"; }

# The last `otter status --json` the guest printed (since the last start).
last_status() { since_start "$1" | grep 'VMTEST status ' | tail -1 | sed 's/^.*VMTEST status //'; }

# status_is LOG PYTHON_EXPR: the expression over the last status `s` is true.
status_is() {
  last_status "$1" | python3 -c '
import json, sys
text = sys.stdin.read().strip()
try:
    s = json.loads(text)
except Exception as e:
    print("vm-test: no status JSON: %r" % text[:300], file=sys.stderr); sys.exit(1)
def version(t): return (t or {}).get("version")
ok = eval(sys.argv[1])
if not ok: print("vm-test: status check failed: %s on %s" % (sys.argv[1], text[:1500]), file=sys.stderr)
sys.exit(0 if ok else 1)' "$2"
}

# Per-boot times of the whole log: from GRUB's counter line to the guest's first report line.
boot_times() {
  awk '/otter: upgrade_available=/ {t=$1} /VMTEST boot version=/ && t {printf "%.1f ", $1 - t; t=0}' "$1.ts"
}
