"""The widgets under a :class:`~stslab.observe.panel.Panel`'s frame, and how they are laid out.

The panel wires them to what they do; here they are only made, named and placed.
"""

from __future__ import annotations

from typing import Any

VIEW_NAMES = {"pods": "pods", "volumes": "volumes", "gpus": "GPUs per machine", "ensemble": "roles"}


class PanelWidgets:
    """The panel's controls: view, set and member choosers, scale and delete, pause, slider."""

    image: Any
    view: Any
    sets: Any
    minus: Any
    plus: Any
    target: Any
    scale_button: Any
    member: Any
    delete_button: Any
    pause_button: Any
    slider: Any
    summary: Any
    table: Any
    message: Any
    box: Any

    def _build_widgets(
        self, views: list[str], view: str, statefulset: str | None, *, live: bool
    ) -> None:
        """Make the widgets; a replay (not ``live``) has no cluster controls but the slider."""
        import ipywidgets as w

        self.image = w.Image(format="png", layout=w.Layout(max_width="900px"))
        self.view = w.ToggleButtons(
            options=[(VIEW_NAMES[v], v) for v in views], value=view, style={"button_width": "9em"}
        )
        self.sets = w.Dropdown(
            description="StatefulSet",
            options=[statefulset] if statefulset else [],
            value=statefulset,
            layout=w.Layout(width="16em"),
        )
        self.minus = w.Button(description="−1", tooltip="scale down by one", disabled=not live)
        self.plus = w.Button(description="+1", tooltip="scale up by one", disabled=not live)
        self.target = w.BoundedIntText(value=0, min=-1000, max=1000, layout=w.Layout(width="6em"))
        self.scale_button = w.Button(description="scale to", disabled=not live)
        self.member = w.Dropdown(description="member", options=[], layout=w.Layout(width="14em"))
        self.delete_button = w.Button(
            description="delete member", button_style="danger", disabled=not live
        )
        self.pause_button = w.ToggleButton(
            description="pause", tooltip="freeze the frame (recording goes on)", disabled=not live
        )
        self.slider = w.FloatSlider(
            description="t (s)",
            min=0,
            max=1,
            step=0.5,
            continuous_update=False,
            disabled=live,
            layout=w.Layout(width="32em"),
        )
        self.summary = w.HTML()
        self.table = w.HTML()
        self.message = w.HTML()
        for widget in (self.minus, self.plus, self.scale_button, self.delete_button):
            widget.layout.width = "auto"
        self.box = w.VBox(
            [
                self.view,
                self.image,
                self.summary,
                w.HBox([self.sets, self.minus, self.plus, self.target, self.scale_button]),
                w.HBox([self.member, self.delete_button, self.pause_button]),
                self.slider,
                self.table,
                self.message,
            ]
        )
