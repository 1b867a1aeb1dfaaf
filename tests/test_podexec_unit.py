"""Pure parts of exec and of kept solutions: exit codes, why a pod takes no exec, fast mode.

The live paths run in the kind tier (every lab execs into its pods there).
"""

from __future__ import annotations

import json

import pytest
from helpers import pod_waiting
from kubernetes import client

from stslab.cluster.choose import get_backend
from stslab.core.errors import UsageError
from stslab.core.podexec import Result, _exit_code, _not_running
from stslab.lab.answers import Answers, solution_key


def test_exit_code_from_the_error_channel() -> None:
    assert _exit_code("") == 0
    assert _exit_code(json.dumps({"status": "Success"})) == 0
    failure = {
        "status": "Failure",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": "3"}]},
    }
    assert _exit_code(json.dumps(failure)) == 3
    assert _exit_code(json.dumps({"status": "Failure", "message": "boom"})) == 1


def _pod(phase: str, waiting: str | None = None, deleting: bool = False) -> client.V1Pod:
    return pod_waiting("zk-0", "zookeeper", waiting, phase=phase, deleting=deleting)


def test_why_a_pod_takes_no_exec() -> None:
    assert _not_running(_pod("Running")) is None
    assert _not_running(_pod("Pending", "ErrImageNeverPull")) == "is Pending (ErrImageNeverPull)"
    assert _not_running(_pod("Running", deleting=True)) == "is terminating"
    assert _not_running(_pod("Succeeded")) == "is Succeeded"


def test_last_line_prefers_the_error_stream() -> None:
    assert Result("out\n", "first\nlast\n\n", 1).last_line() == "last"
    assert Result("only out\n", "", 0).last_line() == "only out"


def _lab(fast: bool, backend: str = "kind", runs_containers: bool | None = None) -> Answers:
    if runs_containers is None:  # what the backend can do: run containers or not
        runs_containers = get_backend(backend).runs_containers
    key = solution_key(backend, runs_containers=runs_containers)
    return Answers("lab-06", fast=fast, backend_key=key)  # no cluster: answers read only these


def test_answers_come_from_the_cell_unless_fast_mode_fills_a_placeholder() -> None:
    assert _lab(fast=False).answer("my_vms_that_fit", ...) is Ellipsis
    assert _lab(fast=True).answer("my_vms_that_fit", 5) == 5  # the learner's own answer wins
    assert _lab(fast=True, backend="kind").answer("my_vms_that_fit", ...) == 4
    assert _lab(fast=True, backend="kwok").answer("my_vms_that_fit", ...) == 6
    shared = _lab(fast=True, backend="existing", runs_containers=False)  # a workshop's simulated
    assert shared.answer("my_vms_that_fit", ...) == 6  # cluster: as kwok
    with pytest.raises(UsageError, match="no kept solution for my_vms_that_fit on the existing"):
        _lab(fast=True, backend="existing").answer("my_vms_that_fit", ...)  # a real one: yours
    with pytest.raises(UsageError, match="no kept solution"):
        _lab(fast=True).answer("my_unknown", ...)


def test_a_partly_answered_dict_is_filled_whole_in_fast_mode() -> None:
    lab = _lab(fast=True)
    lab.lab = "lab-05"
    assert lab.answer("my_tolerated", {3: 1, 4: ..., 5: 2}) == {3: 1, 4: 1, 5: 2}
