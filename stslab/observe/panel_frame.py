"""What a :class:`~stslab.observe.panel.Panel` shows: its frame, its members line, a member's table.

Pure drawing from a recording's table: the panel decides when, these decide what.
"""

from __future__ import annotations

import html
import io
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from stslab.observe.actions import MemberDetails
from stslab.observe.gpu_usage import draw_gpu_usage
from stslab.observe.timeline import (
    current_members,
    draw_timeline,
    draw_volumes,
    pod_segments,
    show_health,
)


def frame_title(title: str, prefix: str | None, df: pd.DataFrame, cut: pd.Timestamp | None) -> str:
    """The frame's title; a scrubbed frame says which moment it shows."""
    if cut is None or not len(df):
        return title
    return f"{title or prefix or ''} (t = {(cut - df['time'].min()).total_seconds():.1f} s)"


def draw_frame(
    fig: Figure,
    df: pd.DataFrame,
    view: str,
    *,
    prefix: str | None,
    title: str,
    cut: pd.Timestamp | None,
    source: str,
    capacity: dict[str, int] | None,
    ensemble: Any,
    recorder: Any,
) -> bytes:
    """Draw ``view`` (pods, volumes, gpus, ensemble) of ``df`` on ``fig``; return it as PNG.

    ``recorder``, when given (a live panel), adds the recording's health to the frame.
    """
    fig.set_size_inches(9, 5.2 if view == "ensemble" else 3.6)
    if view == "volumes":
        draw_volumes(df, fig=fig, title=title, source=source)
    elif view == "gpus":
        draw_gpu_usage(df, capacity or {}, fig=fig, title=title)
    elif view == "ensemble":
        from stslab.observe.ensemble import draw_members_and_roles

        roles = ensemble.frame()
        if cut is not None:
            roles = roles[roles["time"] <= cut]
        draw_members_and_roles(df, roles, ensemble.names, fig, prefix=prefix or "zk", title=title)
    else:
        draw_timeline(df, prefix=prefix, fig=fig, title=title, source=source, now=cut)
    if recorder is not None:
        show_health(fig, recorder)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def members_summary(df: pd.DataFrame, prefix: str | None) -> tuple[list[str], str]:
    """The chosen set's members now (their names) and the line that sums them up (HTML)."""
    if not prefix:
        return [], "<i>no StatefulSet chosen</i>"
    segments, _ = pod_segments(df, prefix)
    now = current_members(df, segments)
    names = [f"{prefix}-{o}" for o in sorted(now)]
    replaced = {s.ordinal for s in segments if s.ordinal in now and s.uid != now[s.ordinal].uid}
    parts = [
        f"{prefix}-{o} {now[o].state}" + (" (replaced)" if o in replaced else "")
        for o in sorted(now)
    ]
    line = (
        f"{prefix}: {len(now)} member{'s' * (len(now) != 1)} — " + ", ".join(parts)
        if parts
        else f"{prefix}: no members"
    )
    return names, html.escape(line)


def member_table(df: pd.DataFrame, member: str | None, details: MemberDetails | None) -> str:
    """The chosen member's table (HTML): node, IP, claims, revision, last event."""
    if not member:
        return ""
    rows = df[(df["kind"] == "Pod") & (df["name"] == member)]
    last = rows.iloc[-1] if len(rows) else None
    events = df[(df["kind"] == "Event") & (df["name"] == member)]
    event = events.iloc[-1] if len(events) else None
    cells = {
        "node": last["node"] if last is not None else None,
        "IP": last["ip"] if last is not None else None,
        "claims": details.claims if details else "—",
        "revision": details.revision if details else "—",
        "last event": f"{event['reason']}: {event['message']}" if event is not None else None,
    }
    body = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{k}</th>"
        f"<td>{html.escape(str(v) if isinstance(v, str) and v else '—')}</td></tr>"
        for k, v in cells.items()
    )
    return f"<table><caption>{html.escape(member)}</caption>{body}</table>"
