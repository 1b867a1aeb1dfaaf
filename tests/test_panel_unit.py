"""The panel without a cluster: a replay to scrub, its one-line refusals, headless output."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from stslab.observe import panel_frame as frame_module  # noqa: E402
from stslab.observe.panel import Panel  # noqa: E402
from stslab.observe.recorder import COLUMNS  # noqa: E402
from stslab.observe.replay import load  # noqa: E402

WIDGET = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def replay() -> Panel:
    return Panel.replay(load("web-rollout"), statefulset="web")


def test_a_replay_opens_at_its_end_and_scrubs_back(replay: Panel) -> None:
    end_png, end_summary = replay.png, replay.summary.value
    assert not replay.slider.disabled and replay.slider.value == replay.slider.max > 20
    assert "3 members" in end_summary
    said = replay.scrub(1.0)
    assert said.startswith("showing t = 1.0 s")
    assert replay.png != end_png and "1 member" in replay.summary.value  # web-0 alone, at 1 s
    replay.scrub(replay.slider.max)
    assert replay.summary.value == end_summary


def test_a_replay_refuses_cluster_controls_in_one_line(replay: Panel) -> None:
    for said in (replay.scale(+1), replay.scale_to(5), replay.delete("web-0")):
        assert said == "this is a replay: there is no cluster to act on"
    assert replay.message.value.count("<br>") == 0 and not replay.log


def test_an_empty_recording_has_nothing_to_scrub() -> None:
    empty = pd.DataFrame(columns=COLUMNS)
    empty["time"] = pd.to_datetime(empty["time"], utc=True)
    p = Panel(None, None, "", statefulset="web", frame=empty)
    assert p.scrub(3) == "nothing recorded yet: there is nothing to scrub"
    assert p.summary.value == "web: no members"


def test_the_member_table_names_node_ip_and_last_event(replay: Panel) -> None:
    replay.member.value = "web-1"
    replay.refresh()
    table = replay.table.value
    assert "web-1" in table and "kwok-worker" in table and "10.244." in table


def test_headless_output_is_a_picture_and_live_output_a_widget(
    replay: Panel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STSLAB_HEADLESS", raising=False)
    assert {"image/png", WIDGET} <= set(replay._bundle())
    monkeypatch.setenv("STSLAB_HEADLESS", "1")
    bundle = replay._bundle()
    assert WIDGET not in bundle and bundle["image/png"]
    assert replay._bundle(widget=False).keys() == {"text/plain", "image/png"}


def test_a_frame_that_fails_says_so_and_the_next_one_draws(
    replay: Panel, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = frame_module.draw_timeline  # type: ignore[attr-defined]
    calls = {"n": 0}

    def broken_once(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a figure that would not draw")
        return real(*args, **kwargs)

    monkeypatch.setattr(frame_module, "draw_timeline", broken_once)
    frames = replay.frames
    replay.scrub(2.0)
    assert (
        replay.status == "the frame could not be drawn (a figure that would not draw); trying again"
    )
    assert replay.frames == frames
    replay.scrub(3.0)
    assert replay.frames == frames + 1 and replay.status.startswith("showing t = 3.0 s")


def test_unknown_view_is_refused() -> None:
    with pytest.raises(ValueError, match="view 'gpus' is not one of"):
        Panel.replay(load("web-rollout"), statefulset="web", view="gpus")


class _Growing:
    """A recording that goes on while the panel is paused: it reveals more rows on each read."""

    running = True

    def __init__(self, frame: pd.DataFrame) -> None:
        self.full, self.shown = frame.sort_values("time"), len(frame) // 2

    def frame(self) -> pd.DataFrame:
        self.shown = min(self.shown + 5, len(self.full))
        return self.full.iloc[: self.shown]


def test_a_paused_panel_keeps_its_slider_while_the_recording_grows() -> None:
    # A drag in the browser is committed only when the mouse is released; if the slider's end
    # moved under it meanwhile, the handle jumped back to the end (seen in chromium).
    p = Panel(_Growing(load("web-rollout").frame), None, "", statefulset="web")
    p.pause()
    p.refresh()
    paused_at = (p.slider.max, p.slider.value)
    for _ in range(3):
        p.refresh()
    assert (p.slider.max, p.slider.value) == paused_at
    p.scrub(1.0)
    p.refresh()
    assert p.slider.value == 1.0 and "1 member" in p.summary.value
