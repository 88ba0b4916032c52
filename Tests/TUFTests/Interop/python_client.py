"""Refreshes with python-tuf's ngclient and downloads targets; exit 0 only if all verified.

usage: python3 python_client.py METADATA_URL TARGETS_URL METADATA_DIR TARGET_DIR [TARGET...]
METADATA_DIR must hold the trusted root.json.
"""
import sys

from tuf.ngclient import Updater, UpdaterConfig

metadata_url, targets_url, metadata_dir, target_dir, *names = sys.argv[1:]
with open(f"{metadata_dir}/root.json", "rb") as f:
    trusted_root = f.read()
updater = Updater(
    bootstrap=trusted_root, metadata_dir=metadata_dir, metadata_base_url=metadata_url, target_base_url=targets_url,
    target_dir=target_dir, config=UpdaterConfig(targets_max_length=64 << 20),
)
updater.refresh()
for name in names:
    info = updater.get_targetinfo(name)
    if info is None:
        print(f"{name}: not found", file=sys.stderr)
        sys.exit(1)
    path = updater.find_cached_target(info) or updater.download_target(info)
    print(f"{name}: {path}")
