"""Kubernetes API access for stslab: clients built from the lab's own kubeconfig, and waits."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from kubernetes import client, config

from stslab.core.errors import WaitTimeoutError

T = TypeVar("T")


def api_client(kubeconfig: Path | str, context: str | None = None) -> client.ApiClient:
    """An API client for a kubeconfig file; the process-wide default config is left alone."""
    return config.new_client_from_config(config_file=str(kubeconfig), context=context)


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.2,
    hint: str = "",
) -> T:
    """Call ``probe`` until it returns something truthy; raise :class:`WaitTimeoutError` at timeout.

    Errors raised by ``probe`` count as "not yet" (a component may still be starting); the last
    one is named in the timeout message.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = probe()
            if result:
                return result
        except Exception as e:  # noqa: BLE001 - reported in the timeout below
            last_error = e
        if time.monotonic() >= deadline:
            because = f" (last error: {last_error})" if last_error else ""
            raise WaitTimeoutError(f"{what} did not happen within {timeout:.0f}s{because}", hint)
        time.sleep(interval)


def wait_for_default_service_account(core: client.CoreV1Api, namespace: str) -> None:
    """Wait until a new namespace can take pods: its default ServiceAccount must exist first."""
    wait_until(
        lambda: core.list_namespaced_service_account(namespace).items,
        timeout=90,  # the controller-manager may still be starting on a busy machine
        what=f"the default ServiceAccount of {namespace}",
    )
