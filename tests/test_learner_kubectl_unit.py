"""A learner's kubectl: kept to the lab's namespace, refused in one line if it cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest

from stslab.lab import learner_kubectl, seen_on_kind
from stslab.lab.check import CheckFailedError
from stslab.lab.seen_on_kind import KEEP_ENV, SeenOnKind


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


def _kept_on_kind(path: Path, monkeypatch: pytest.MonkeyPatch, step: str, printed: str) -> None:
    """A kind run of lab-99 that kept ``step``'s output, where ``seen_dir`` is read from."""
    monkeypatch.setenv(KEEP_ENV, str(path))
    SeenOnKind("lab-99", runs_containers=True).keep(step, printed=printed)
    monkeypatch.setattr(seen_on_kind, "seen_dir", lambda: path)


def test_a_container_command_on_the_simulated_backend_is_the_one_kind_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No container runs to ``exec`` in: the kept command shows what it printed on kind."""
    _kept_on_kind(tmp_path, monkeypatch, "hostname_web_1", "web-1\n")
    recorded = SeenOnKind("lab-99", runs_containers=False)
    kept = "kubectl exec web-1 -- hostname"
    for typed in (
        kept,
        "kubectl -n lab-99 exec -it web-1 -- hostname",
    ):  # -n and -it change nothing
        assert (
            learner_kubectl.from_kind(typed, kept, "lab-99", "hostname_web_1", recorded)
            == "web-1\n"
        )
    assert "Recorded on kind" in capsys.readouterr().out
    with pytest.raises(CheckFailedError) as refused:  # another command: kind never ran it
        learner_kubectl.from_kind(
            "kubectl get pod web-1 -o name", kept, "lab-99", "hostname_web_1", recorded
        )
    assert "no container runs on the simulated backend" in refused.value.what
    with pytest.raises(CheckFailedError):  # refused as any learner's command is
        learner_kubectl.from_kind(
            "kubectl -n other exec web-1 -- hostname", kept, "lab-99", "hostname_web_1", recorded
        )


def test_a_command_that_reads_every_namespace_is_shown_from_kind_to_a_workshop_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``kubectl drain`` lists every namespace's pods: a real cluster's learner sees kind's run."""
    _kept_on_kind(tmp_path, monkeypatch, "drain_node", "node/w1 drained\n")
    monkeypatch.delenv(KEEP_ENV)
    recorded = SeenOnKind("lab-99", runs_containers=True)  # containers run; the account may not
    command = "kubectl drain w1 --pod-selector=app=zk --delete-emptydir-data"
    assert learner_kubectl.account_may_not(command, "lab-99", "drain_node", recorded) == (
        "node/w1 drained\n"
    )
    assert "Not run: it reads every namespace's pods" in capsys.readouterr().out
    elsewhere = command + " -n kube-system"
    with pytest.raises(CheckFailedError):  # still refused as any other command
        learner_kubectl.account_may_not(elsewhere, "lab-99", "drain_node", recorded)
