"""A learner's kubectl: kept to the lab's namespace, refused in one line if it cannot work."""

from __future__ import annotations

import pytest

from stslab.lab import learner_kubectl
from stslab.lab.check import CheckFailedError


def test_the_labs_namespace_is_added_or_kept() -> None:
    assert learner_kubectl.argv("kubectl scale sts web --replicas=1", "lab-01", "x") == [
        "-n", "lab-01", "scale", "sts", "web", "--replicas=1",
    ]  # fmt: skip
    for given in ("kubectl -n lab-01 get pods", "kubectl --namespace=lab-01 get pods"):
        assert learner_kubectl.argv(given, "lab-01", "x")[-2:] == ["get", "pods"]


@pytest.mark.parametrize(
    ("command", "said"),
    [
        ("kubectl -n kube-system delete pod web-0", "acts outside namespace lab-01"),
        ("kubectl --namespace=lab-02 get pods", "acts outside namespace lab-01"),
        ("kubectl get pods -A", "acts outside namespace lab-01"),
        ("rm -rf /", "is not a kubectl command"),
        ("kubectl get pods 'web", "does not parse"),
    ],
)
def test_what_cannot_work_is_refused_in_one_line(command: str, said: str) -> None:
    with pytest.raises(CheckFailedError) as refused:
        learner_kubectl.argv(command, "lab-01", "scale_scratch")
    assert said in refused.value.what and "\n" not in refused.value.what
    assert 'lab.hint("scale_scratch")' in refused.value.hint


def test_a_command_still_to_write_is_told_apart() -> None:
    assert learner_kubectl.unwritten("kubectl -n lab-01 ???") and learner_kubectl.unwritten(None)
    assert not learner_kubectl.unwritten("kubectl -n lab-01 get pods")
