"""Watching a cluster: a recorder of changes into pandas, and the live views drawn from it.

:mod:`~stslab.observe.recorder` records pods, claims, volumes and events through bounded
watches; :mod:`~stslab.observe.timeline` draws StatefulSet members and volumes live;
:mod:`~stslab.observe.gpu_usage` draws GPUs per machine; :mod:`~stslab.observe.replay` plays
back recordings kept in ``data/timelines/``; :mod:`~stslab.observe.panel` puts controls under a
view (scale, delete, pause, scrub).
"""
