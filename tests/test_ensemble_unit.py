"""The ensemble view's poller: it says when it dies and comes back, and draws what it saw.

The poller asks members for their role through the API server; here the API server is a closed
loopback port, so every ask fails the way a dropped connection does.
"""

from __future__ import annotations

import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from kubernetes import client

from stslab.core.procs import pick_ports
from stslab.observe.ensemble import Ensemble, draw_ensemble, draw_members_and_roles, role_segments
from stslab.observe.recorder import COLUMNS


def _unreachable_api() -> client.ApiClient:
    cfg = client.Configuration()
    cfg.host = f"http://127.0.0.1:{pick_ports(1, 'ensemble-unit')[0]}"  # nothing listens
    cfg.retries = 0
    return client.ApiClient(cfg)


def test_a_dead_poller_says_so_and_is_revived() -> None:
    ens = Ensemble(_unreachable_api(), "ns", "zk", 3, interval=0.1).start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not ens.health:
        time.sleep(0.1)
    assert "ensemble poller stopped" in ens.health and "restarting" in ens.health
    first = ens._thread
    ens.revive()
    assert ens._thread is not first and ens._thread is not None
    ens.stop()
    assert ens.health == ""  # stopped on purpose: nothing to report


def test_roles_become_segments_and_a_frame() -> None:
    t0 = pd.Timestamp("2026-01-01T00:00:00Z")
    rows = [
        (0, "zk-0", "follower"),
        (0, "zk-1", "leader"),
        (1, "zk-0", "follower"),
        (1, "zk-1", "down"),
        (2, "zk-0", "leader"),
        (2, "zk-1", "looking"),
    ]
    df = pd.DataFrame(
        [{"time": t0 + pd.Timedelta(seconds=s), "member": m, "role": r} for s, m, r in rows]
    )
    segs = role_segments(df, ["zk-0", "zk-1"])
    assert [(s.name, s.state) for s in segs] == [
        ("zk-0", "follower"),
        ("zk-0", "leader"),
        ("zk-1", "leader"),
        ("zk-1", "down"),
        ("zk-1", "looking"),
    ]
    fig = draw_ensemble(df, ["zk-0", "zk-1"], plt.figure(), "roles")
    assert fig.axes[0].get_title() == "roles"


def test_pods_and_roles_share_one_clock() -> None:
    """zk-1's pod deleted (upper row) lines up with zk-1 "down" (lower row) in one frame."""
    t0 = pd.Timestamp("2026-01-01T00:00:00Z")

    def at(s: float) -> pd.Timestamp:
        return t0 + pd.Timedelta(seconds=s)

    def pod(s: float, event: str, name: str, uid: str, ready: str) -> dict[str, object]:
        ordinal = int(name.rsplit("-", 1)[1])
        return {
            "time": at(s),
            "kind": "Pod",
            "event": event,
            "name": name,
            "uid": uid,
            "ordinal": ordinal,
            "phase": "Running",
            "ready": ready,
        }

    pods = pd.DataFrame(
        columns=COLUMNS,
        data=[
            pod(0, "ADDED", "zk-0", "a", "True"),
            pod(0, "ADDED", "zk-1", "b", "True"),
            pod(5, "DELETED", "zk-1", "b", "True"),
            pod(6, "ADDED", "zk-1", "c", "False"),
        ],
    )
    roles = pd.DataFrame(
        [
            {"time": at(s), "member": m, "role": r}
            for s, m, r in [
                (2, "zk-0", "follower"),
                (2, "zk-1", "leader"),
                (5, "zk-1", "down"),
                (7, "zk-0", "leader"),
                (7, "zk-1", "looking"),
                (9, "zk-1", "follower"),
            ]
        ]
    )
    fig = draw_members_and_roles(
        pods, roles, ["zk-0", "zk-1"], plt.figure(), prefix="zk", replicas=2
    )
    top, bottom = fig.axes[:2]
    assert [t.get_text() for t in top.get_yticklabels()] == ["zk-0", "zk-1"]
    deleted = next(c for c in top.collections if c.get_label() == "deleted")
    offsets = np.asarray(deleted.get_offsets())
    assert offsets[0, 0] == 5.0  # seconds since the first sample of either table
    down = [float(np.asarray(p.vertices)[0, 0]) for p in bottom.collections[0].get_paths()]
    assert 5.0 in down  # zk-1's "down" bar starts where its pod was deleted
    assert top.get_xlim() == bottom.get_xlim()
    plt.close(fig)
