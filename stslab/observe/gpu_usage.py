"""GPUs in use per node over time, from a :class:`stslab.observe.recorder.Recorder` table.

A pod holds its GPUs from the moment it is bound to a node until it is gone (a Terminating
pod still holds them: the scheduler counts it until the kubelet confirms it stopped). The live
view draws one step line per node, with each node's GPU count as a dashed ceiling.

    live_gpu_usage(rec, capacity={"lab-06-gpu-1": 4, ...}, until=..., timeout=60)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from stslab.observe.timeline import finish_frame, live_view

_DONE = ("Succeeded", "Failed")


def usage(df: pd.DataFrame, nodes: list[str] | None = None) -> pd.DataFrame:
    """A table with a ``time`` column and one column per node: GPUs held by pods then."""
    pods = df[(df["kind"] == "Pod")] if len(df) else df
    holding: dict[str, tuple[str, int]] = {}  # pod uid -> (node, gpus)
    rows = []
    for r in pods.itertuples(index=False):
        gpus = int(r.gpus) if pd.notna(r.gpus) else 0
        if r.event == "DELETED" or r.phase in _DONE or not r.node or not gpus:
            holding.pop(r.uid, None)
        else:
            holding[r.uid] = (r.node, gpus)
        per_node: dict[str, Any] = {"time": r.time}
        for node, n in holding.values():
            per_node[node] = per_node.get(node, 0) + n
        rows.append(per_node)
    out = pd.DataFrame(rows, columns=["time", *(nodes or [])])
    cols = nodes or sorted(c for c in out.columns if c != "time")
    return out.reindex(columns=["time", *cols]).fillna({c: 0 for c in cols})


def draw_gpu_usage(
    df: pd.DataFrame,
    capacity: dict[str, int],
    *,
    fig: Figure | None = None,
    title: str = "",
) -> Figure:
    """Draw one frame: GPUs in use on each node of ``capacity`` against time."""
    fig = fig or plt.figure(figsize=(9, 3.6))
    fig.clf()
    ax = fig.add_subplot(1, 1, 1)
    nodes = sorted(capacity)
    table = usage(df, nodes)
    t0 = df["time"].min() if len(df) else pd.Timestamp.now(tz="UTC")
    end = df["time"].max() if len(df) else t0
    secs = [float((t - t0).total_seconds()) for t in table["time"]]
    right = float((end - t0).total_seconds())
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, node in enumerate(nodes):
        color = colors[i % len(colors)]
        ys = [int(v) for v in table[node]] if len(table) else []
        # Offset the lines a little so that nodes with equal use stay visible.
        offset = (i - (len(nodes) - 1) / 2) * 0.06
        ax.step(
            [0.0, *secs, right],
            [offset, *(y + offset for y in ys), (ys[-1] if ys else 0) + offset],
            where="post",
            color=color,
            label=f"{node} ({capacity[node]} GPUs)",
        )
        ax.axhline(capacity[node] + offset, color=color, linestyle=":", linewidth=1)
    ax.set_ylabel("GPUs in use")
    ax.set_ylim(-0.5, max(capacity.values(), default=1) + 0.8)
    ax.set_xlim(left=-0.5)
    handles = ax.get_legend_handles_labels()[0]
    finish_frame(
        fig, ax, title or "GPUs in use per node (dotted: the node's GPUs)", handles, "", 0.08
    )
    return fig


def live_gpu_usage(
    recorder: Any,
    capacity: dict[str, int],
    *,
    title: str = "",
    until: Callable[[pd.DataFrame], bool] | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """The GPU usage view redrawn live (see :func:`stslab.observe.timeline.live_view`)."""

    def draw(df: pd.DataFrame, fig: Figure) -> Figure:
        return draw_gpu_usage(df, capacity, fig=fig, title=title)

    return live_view(recorder, draw, until=until, **kwargs)
