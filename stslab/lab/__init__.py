"""Everything a lab notebook uses, from one place.

A notebook imports from here and nowhere else in stslab (a test enforces it)::

    from stslab.lab import Lab, Recorder, check, live_timeline, statefulset

:class:`Lab` connects and gives the lab its own namespace; the manifest builders make the
objects a lab applies; :class:`Recorder` and the ``live_*`` views show what happens, and a
:class:`Panel` puts buttons under one; :mod:`check` judges the learner's answers from the
cluster's state.
"""

from stslab.cluster.lifecycle import status
from stslab.cluster.nodes import GPU_MODEL
from stslab.core.apply import served as served_versions
from stslab.core.errors import StslabError
from stslab.core.kube import wait_until
from stslab.core.labels import LAB_LABEL, POOL_LABEL
from stslab.lab import check, dra, drain, fixit, release, storage, zookeeper
from stslab.lab.answers import Answers
from stslab.lab.context import Lab
from stslab.lab.manifests import (
    cluster_ip_service,
    deployment,
    headless_service,
    statefulset,
    vm_statefulset,
)
from stslab.lab.manifests import load as load_manifest
from stslab.lab.nslookup import lookup
from stslab.lab.pools import create_pool, pool_sizes, pool_table
from stslab.lab.room import RoomView, exercise_table, room_exercises
from stslab.lab.roster import instructor_api
from stslab.lab.seen_on_kind import SeenOnKind
from stslab.lab.session_demo import run_demo
from stslab.observe.ensemble import Ensemble, live_ensemble
from stslab.observe.gpu_usage import live_gpu_usage
from stslab.observe.panel import Panel
from stslab.observe.recorder import Recorder
from stslab.observe.replay import load as load_recording
from stslab.observe.replay import replay_timeline
from stslab.observe.timeline import (
    draw_timeline,
    live_timeline,
    live_volumes,
    phase_of,
    ready_members,
)

__all__ = [
    "SeenOnKind",
    "Answers",
    "Ensemble",
    "GPU_MODEL",
    "LAB_LABEL",
    "POOL_LABEL",
    "Lab",
    "Panel",
    "Recorder",
    "StslabError",
    "check",
    "cluster_ip_service",
    "create_pool",
    "deployment",
    "dra",
    "drain",
    "fixit",
    "release",
    "draw_timeline",
    "headless_service",
    "instructor_api",
    "live_ensemble",
    "live_gpu_usage",
    "live_timeline",
    "live_volumes",
    "load_manifest",
    "load_recording",
    "lookup",
    "phase_of",
    "pool_sizes",
    "pool_table",
    "ready_members",
    "replay_timeline",
    "room_exercises",
    "RoomView",
    "exercise_table",
    "run_demo",
    "served_versions",
    "statefulset",
    "status",
    "storage",
    "vm_statefulset",
    "wait_until",
    "zookeeper",
]
