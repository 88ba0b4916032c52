# Shared by scripts/demo and scripts/bench.d/updater: a local factory and a throw-away device.
# Source it after setting `otter_bin`, `factory_bin` and `lab_label`; it creates $work, starts a
# distribution registry, a podman Docker-API service and an HTTP server for the factory (all on
# 127.0.0.1, stopped by PID in the EXIT trap), and defines the helpers below.
# shellcheck shell=bash
# shellcheck disable=SC2154 # otter_bin and factory_bin are set by the script that sources this file
: "${otter_bin:?set otter_bin before sourcing lab.sh}" "${factory_bin:?set factory_bin before sourcing lab.sh}"
work=$(mktemp -d "/tmp/otter-${lab_label:-lab}.XXXXXX")
pids=()
podman_flags=()
cleanup() {
  if [ ${#podman_flags[@]} -gt 0 ]; then
    CONTAINERS_CONF=$work/containers.conf podman "${podman_flags[@]}" rm -af -t 1 >/dev/null 2>&1 || true
  fi
  for pid in "${pids[@]}"; do { kill -9 "$pid"; wait "$pid"; } 2>/dev/null || true; done
  chattr -R -i "$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "nothing on port $1" >&2; return 1; }

step "local servers: a distribution registry and a podman Docker-API service"
registry_port=$(free_port)
mkdir -p "$work/registry"
cat > "$work/registry/config.yml" <<YAML
version: 0.1
storage:
  filesystem:
    rootdirectory: $work/registry/storage
http:
  addr: 127.0.0.1:$registry_port
YAML
docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
pids+=($!)
wait_port "$registry_port"
registry=127.0.0.1:$registry_port

cat > "$work/containers.conf" <<CONF
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
[network]
network_config_dir = "$work/networks"
CONF
export CONTAINERS_CONF=$work/containers.conf
podman_flags=(--root "$work/engine/root" --runroot "$work/engine/run" --storage-driver vfs --tmpdir "$work/engine/tmp")
build_flags=(--root "$work/build/root" --runroot "$work/build/run" --storage-driver vfs --tmpdir "$work/build/tmp")
podman "${podman_flags[@]}" system service --time=0 "unix://$work/podman.sock" >"$work/podman.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$work/podman.sock" ] && break; sleep 0.1; done
echo "registry $registry, engine $work/podman.sock"

step "factory: keys, CA, TUF repository, OSTree repo"
factory=$work/factory
"$factory_bin" init "$factory"

make_rootfs() { # DIR VERSION
  local d=$1 v=$2
  mkdir -p "$d/usr/etc" "$d/usr/lib/modules/6.1.0" "$d/usr/bin" "$d/usr/share/payload"
  printf 'ID=otter\nPRETTY_NAME="Otter demo OS %s"\nVERSION_ID=%s\n' "$v" "$v" > "$d/usr/etc/os-release"
  echo "demo kernel $v" > "$d/usr/lib/modules/6.1.0/vmlinuz"
  echo "demo initramfs" > "$d/usr/lib/modules/6.1.0/initramfs.img"
  echo "$v" > "$d/usr/bin/demo-version"
  head -c 2000000 /dev/urandom > "$d/usr/share/payload/big"
}

step "factory: OS versions 1, 2, 3 (committed, signed, static deltas)"
declare -A os
for v in 1 2 3; do
  make_rootfs "$work/rootfs-$v" "$v"
  os[$v]=$("$factory_bin" os publish --factory "$factory" "$work/rootfs-$v" --version "$v" --hwid demo-board)
  echo "OS $v = ${os[$v]}"
done

app_port=$(free_port)
publish_app() { # VERSION BODY → prints the app URI
  local v=$1 body=$2 ctx=$work/image-$1
  mkdir -p "$ctx/bin" "$ctx/www" "$work/app-$v"
  cp /bin/busybox "$ctx/bin/busybox"
  echo "$body" > "$ctx/www/index.html"
  printf 'FROM scratch\nCOPY bin/busybox /bin/busybox\nCOPY www /www\nCMD ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]\n' > "$ctx/Containerfile"
  podman "${build_flags[@]}" build -q -t "localhost/demo/web:$v" "$ctx" >/dev/null
  skopeo copy -q --dest-tls-verify=false --digestfile "$ctx/digest" \
    "containers-storage:[vfs@$work/build/root+$work/build/run]localhost/demo/web:$v" "docker://$registry/images/web:$v" >/dev/null
  cat > "$work/app-$v/docker-compose.yml" <<YAML
services:
  web:
    image: $registry/images/web@$(cat "$ctx/digest")
    stop_grace_period: 1s
    ports:
      - "127.0.0.1:$app_port:8080"
YAML
  "$factory_bin" apps publish "$work/app-$v" --registry "$registry/factory/web" --plain-http
}

step "factory: the web app in versions 1, 2, 3 (3 answers 'broken'), published as compose apps"
declare -A app
app[1]=$(publish_app 1 "ok: web v1")
app[2]=$(publish_app 2 "ok: web v2")
app[3]=$(publish_app 3 "broken: web v3")
for v in 1 2 3; do echo "app $v = ${app[$v]}"; done

# lab_gateway=1 (scripts/demo): the device reaches TUF and OSTree only through the mTLS gateway
# that lab_register starts; otherwise a plain HTTP server serves the factory's files.
servers_toml=""
if [ "${lab_gateway:-0}" != 1 ]; then
  step "serve the factory's TUF repository and OSTree repo on 127.0.0.1"
  http_port=$(free_port)
  python3 -m http.server --protocol HTTP/1.1 --bind 127.0.0.1 --directory "$factory" "$http_port" >/dev/null 2>"$work/http.log" &
  pids+=($!)
  wait_port "$http_port"
  servers_toml="tuf_url = \"http://127.0.0.1:$http_port/tuf/ci\"
ostree_url = \"http://127.0.0.1:$http_port/ostree\""
fi

step "a throw-away device: OSTree sysroot, config, trusted keys, a required health check"
sysroot=$work/sysroot
mkdir -p "$sysroot"
ostree admin init-fs "$sysroot" >/dev/null
ostree admin os-init --sysroot="$sysroot" otter >/dev/null
mkdir -p "$sysroot/etc/otter/conf.d" "$sysroot/usr/lib/otter/tuf" "$sysroot/etc/otter/trusted.ed25519.d" "$sysroot/etc/otter/health/required.d"
cat > "$sysroot/etc/otter/conf.d/50-demo.toml" <<TOML
[device]
hardware_id = "demo-board"
tag = "main"

[servers]
$servers_toml
plain_http_registries = ["$registry"]

[update]
os = "otter"

[health]
timeout = 30
per_check_timeout = 10
greenboot_dirs = []

[bootloader]
backend = "file"

[apps]
engine_socket = "$work/podman.sock"
compose_command = ["/usr/bin/docker-compose"]
reserve_bytes = 1048576
TOML
cp "$factory/tuf/ci/1.root.json" "$sysroot/usr/lib/otter/tuf/root.json"
cp "$factory/keys/ostree/ed25519.pub" "$sysroot/etc/otter/trusted.ed25519.d/factory.pub"
cat > "$sysroot/etc/otter/health/required.d/10-web-answers-ok" <<SH
#!/bin/sh
exec curl -fsS --retry 20 --retry-delay 1 --retry-all-errors http://127.0.0.1:$app_port/ | grep -q '^ok'
SH
chmod +x "$sysroot/etc/otter/health/required.d/10-web-answers-ok"
# The demo's sysroot is not booted: which commit "booted" is simulated (never on a device).
export OTTER_SIMULATED_BOOT_FILE=$sysroot/run/otter-simulated-boot
otter() { "$otter_bin" "$@" --sysroot "$sysroot"; }
page() { curl -fsS --max-time 3 --retry 10 --retry-delay 1 --retry-all-errors "http://127.0.0.1:$app_port/" 2>/dev/null || echo "(no answer)"; }
# Runs an otter verb that may end with 100 (reboot needed) or 1 (rolled back) without stopping the demo.
verb() { local rc=0; otter "$@" || rc=$?; echo "(exit status $rc)"; }

target() { "$factory_bin" targets add --factory "$factory" --version "$1" --hwid demo-board --tag main --os "${os[$2]}" --app "web=${app[$3]}"; }


# Starts the factory's device gateway (mTLS) and registration endpoint on 127.0.0.1 and
# registers the device with `otter register`: its 50-registration.toml (read after 50-demo.toml)
# points TUF and OSTree at the gateway, with the device certificate. Sets gateway_url and uuid.
lab_register() {
  local gw_port reg_port token
  gw_port=$(free_port)
  reg_port=$(free_port)
  "$factory_bin" serve --factory "$factory" --listen "127.0.0.1:$gw_port" --register-listen "127.0.0.1:$reg_port" \
    >"$work/gateway.log" 2>&1 &
  pids+=($!)
  wait_port "$gw_port"
  wait_port "$reg_port"
  gateway_url=https://127.0.0.1:$gw_port
  token=$("$factory_bin" tokens create --factory "$factory")
  uuid=$("$otter_bin" register --factory "https://127.0.0.1:$reg_port" --name demo-device --tag main --hwid demo-board \
    --token "$token" --ca "$factory/pki/root.crt" --sysroot "$sysroot")
  echo "gateway $gateway_url; device $uuid registered ($(grep -c . "$sysroot/etc/otter/conf.d/50-registration.toml") config lines)"
}
