"""Record a real StatefulSet timeline into data/timelines/ (for replays and view tests).

Runs against the current lab cluster: creates StatefulSet ``web`` (3 replicas, OrderedReady),
deletes web-1, scales to 1 and back to 3, then deletes everything it made.

    .venv/bin/python scripts/record_timeline.py [--name web-rollout]
"""

from __future__ import annotations

import argparse
from datetime import date

import pandas as pd

from stslab.cluster.lifecycle import record
from stslab.core.kube import wait_until
from stslab.core.versions import pinned
from stslab.lab.context import Lab
from stslab.lab.manifests import headless_service, statefulset
from stslab.observe.recorder import Recorder
from stslab.observe.replay import save
from stslab.observe.segments import ready_members


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", default="web-rollout")
    args = parser.parse_args()
    lab = Lab("record-timeline")
    ns = lab.namespace
    with Recorder(lab.api, ns) as rec:
        lab.apply(headless_service("web"))
        lab.apply(statefulset("web", 3))
        wait_until(lambda: ready_members("web", 3)(rec.frame()), timeout=120, what="rollout")
        uid = lab.core.read_namespaced_pod("web-1", ns).metadata.uid
        lab.core.delete_namespaced_pod("web-1", ns)
        wait_until(
            lambda: lab.core.read_namespaced_pod("web-1", ns).metadata.uid != uid,
            timeout=60,
            what="web-1 replaced",
        )
        wait_until(lambda: ready_members("web", 3)(rec.frame()), timeout=120, what="web-1 Ready")
        t = pd.Timestamp.now(tz="UTC")
        lab.apps.patch_namespaced_stateful_set_scale("web", ns, {"spec": {"replicas": 1}})

        def down(df: pd.DataFrame) -> bool:
            gone = df[(df.time > t) & (df.event == "DELETED") & (df.kind == "Pod")]
            return {"web-1", "web-2"} <= set(gone.name)

        wait_until(lambda: down(rec.frame()), timeout=60, what="scale down")
        lab.apps.patch_namespaced_stateful_set_scale("web", ns, {"spec": {"replicas": 3}})
        wait_until(lambda: ready_members("web", 3)(rec.frame()), timeout=120, what="scale up")
    df = rec.frame()
    df = df[df["kind"].isin(["Pod", "PersistentVolumeClaim", "Event"])]
    v = pinned()
    meta = {
        "title": "StatefulSet web: rollout, delete web-1, scale 3 → 1 → 3",
        "backend": record().backend,
        "kubernetes": v.kubernetes,
        "kwok": v.kwok,
        "date": str(date.today()),
        "namespace": ns,
        "prefix": "web",
    }
    print(save(df, meta, args.name))
    lab.cleanup()


if __name__ == "__main__":
    main()
