"""Record what only containers show into data/seen-on-kind/, from a real run on kind.

Brings up a kind cluster (three workers, the offline node image; a private Docker engine when
none runs), runs labs 01, 03, 05 and 06 headless with ``STSLAB_KEEP_SEEN`` set, so that each lab
keeps what its container-only steps saw (ZooKeeper's roles, the elections, the write refused
without a quorum, the drain's writes, the data read back, the GPUs a VM sees), then takes
everything down again. On the simulated backend those labs show the kept values, labelled as
recorded on kind.

    .venv/bin/python scripts/record_kind.py [--labs 01 03 05 06]   (as root: it may start dockerd)
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from stslab.cli import main as stslab
from stslab.cluster.containers import docker_usable
from stslab.cluster.images import kindnode
from stslab.lab.seen_on_kind import KEEP_ENV, seen_dir
from stslab.testing.dockerd import PrivateDockerd


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--labs", nargs="+", default=["01", "03", "05", "06"])
    args = parser.parse_args()
    daemon = None
    if not docker_usable()[0]:
        daemon = PrivateDockerd()
        os.environ["DOCKER_HOST"] = daemon.start()
    os.environ["STSLAB_STATE"] = tempfile.mkdtemp(prefix="stslab-record-kind-")
    os.environ[KEEP_ENV] = str(seen_dir())
    try:
        kindnode.build(say=lambda m: print(f"[kind-image] {m}"))
        up = ["up", "--backend", "kind", "--node-image", "offline", "--nodes", "3"]
        if stslab(up) != 0:
            return 1
        try:
            return stslab(["labs", "run", "--backend", "kind", *args.labs])
        finally:
            stslab(["down", "--backend", "kind"])
    finally:
        if daemon is not None:
            daemon.stop()
        print("kept:", ", ".join(sorted(p.name for p in Path(seen_dir()).glob("*.json"))))


if __name__ == "__main__":
    raise SystemExit(main())
