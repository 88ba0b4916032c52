"""Writes a TUF repository with python-tuf (the reference implementation), for Otter to read.

usage: python3 python_repository.py OUT_DIR
Writes OUT_DIR/metadata/{1,2}.root.json, timestamp.json, 1.snapshot.json, 1.targets.json,
1.delegated.json and the artifacts under OUT_DIR/targets/ (consistent snapshot names). Root v2
rotates the root key to an ECDSA key; targets are signed with RSA; unknown fields are present
in root, in a key and in the target entries.
"""
import os
import sys
from datetime import datetime, timedelta, timezone

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    DelegatedRole, Delegations, Metadata, MetaFile, Root, Snapshot, TargetFile, Targets, Timestamp,
)

out = sys.argv[1]
os.makedirs(f"{out}/metadata", exist_ok=True)
expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=30)

signers = {
    "root": CryptoSigner.generate_ed25519(),
    "timestamp": CryptoSigner.generate_ecdsa(),
    "snapshot": CryptoSigner.generate_ed25519(),
    "targets": CryptoSigner.generate_rsa(),
}
delegated_signer = CryptoSigner.generate_ecdsa()

root = Root(expires=expires, consistent_snapshot=True)
for role, signer in signers.items():
    root.add_key(signer.public_key, role)
root.unrecognized_fields["x-otter-interop"] = {"list": [1, True, None], "text": "caf\u00e9 \"quoted\""}
root.keys[signers["snapshot"].public_key.keyid].unrecognized_fields["x-tuf-on-ci-keyowner"] = "@tester"

def write(md, name, *signing):
    for s in signing:
        md.sign(s, append=True)
    md.to_file(f"{out}/metadata/{name}")

write(Metadata(root), "1.root.json", signers["root"])

# Root v2: the root key moves to ECDSA, signed by the old and the new key.
new_root_signer = CryptoSigner.generate_ecdsa()
root.revoke_key(signers["root"].public_key.keyid, "root")
root.add_key(new_root_signer.public_key, "root")
root.version = 2
write(Metadata(root), "2.root.json", signers["root"], new_root_signer)

targets = Targets(expires=expires)
artifacts = {"file.txt": b"hello from python-tuf\n", "dir/nested.bin": bytes(range(256))}
for path, data in artifacts.items():
    tf = TargetFile.from_data(path, data, ["sha256", "sha512"])
    tf.unrecognized_fields["custom"] = {"version": "7", "hardwareIds": ["qemu"], "cliUploaded": False}
    targets.targets[path] = tf
targets.delegations = Delegations(
    keys={delegated_signer.public_key.keyid: delegated_signer.public_key},
    roles={"delegated": DelegatedRole("delegated", [delegated_signer.public_key.keyid], 1, True, paths=["delegated/*"])},
)
write(Metadata(targets), "1.targets.json", signers["targets"])

delegated = Targets(expires=expires)
delegated_artifact = b"delegated payload"
delegated.targets["delegated/artifact"] = TargetFile.from_data("delegated/artifact", delegated_artifact)
artifacts["delegated/artifact"] = delegated_artifact
write(Metadata(delegated), "1.delegated.json", delegated_signer)

snapshot = Snapshot(expires=expires)
snapshot.meta["delegated.json"] = MetaFile(version=1)
write(Metadata(snapshot), "1.snapshot.json", signers["snapshot"])
write(Metadata(Timestamp(expires=expires)), "timestamp.json", signers["timestamp"])

for path, data in artifacts.items():
    tf = TargetFile.from_data(path, data, ["sha256", "sha512"])
    dirname, _, basename = path.rpartition("/")
    for digest in tf.hashes.values():
        name = f"{dirname}/{digest}.{basename}" if dirname else f"{digest}.{basename}"
        os.makedirs(os.path.dirname(f"{out}/targets/{name}"), exist_ok=True)
        with open(f"{out}/targets/{name}", "wb") as f:
            f.write(data)
