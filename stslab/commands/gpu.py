"""``stslab gpu``: the fake GPU device plugin run in the foreground, its manifest, its install."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from stslab.cluster.choose import resolve
from stslab.commands.parsing import Commands, Parser, backend_arg


def add_gpu(sub: Commands[Parser]) -> None:
    """Add ``gpu plugin``, ``gpu manifest`` and ``gpu install`` to the command line."""
    gpu = sub.add_parser("gpu", help="the fake GPU device plugin")
    gpu_sub = gpu.add_subparsers(dest="gpu_command", required=True, parser_class=Parser)
    p = gpu_sub.add_parser("plugin", help="run the plugin in the foreground (until SIGTERM)")
    p.set_defaults(func=_gpu_plugin)
    p.add_argument("--socket-dir", type=Path, help="kubelet device-plugin directory")
    p.add_argument("--state-dir", type=Path, help="where the fake device files go")
    p.add_argument("--resource", help="extended resource name (default nvidia.com/gpu)")
    p.add_argument("--count", type=int, help="devices to advertise (default 8)")
    p.add_argument("--model", help="GPU model in STSLAB_GPU_MODEL (default stslab-fake-a100)")
    p.add_argument("--timeout", type=float, help="seconds to wait for the kubelet (default 5)")
    p = gpu_sub.add_parser("manifest", help="print the plugin's DaemonSet (kind/k3d)")
    p.set_defaults(func=_gpu_manifest)
    p.add_argument("--count", type=int, default=8, help="GPUs per node (default 8)")
    p = gpu_sub.add_parser("install", help="build, load and deploy the plugin (kind/k3d)")
    p.set_defaults(func=_gpu_install)
    backend_arg(p)
    p.add_argument("--dry-run", action="store_true", help="print what it would run")


def _gpu_plugin(args: argparse.Namespace) -> int:
    from stslab.gpu import GpuConfig, run_plugin

    given = {
        "socket_dir": args.socket_dir,
        "state_dir": args.state_dir,
        "resource": args.resource,
        "count": args.count,
        "model": args.model,
        "register_timeout": args.timeout,
    }
    config = GpuConfig(**{k: v for k, v in given.items() if v is not None})
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    run_plugin(config)
    return 0


def _gpu_manifest(args: argparse.Namespace) -> int:
    from stslab.cluster import gpu_install

    print(gpu_install.manifest_yaml(args.count), end="")
    return 0


def _gpu_install(args: argparse.Namespace) -> int:
    from stslab.cluster import gpu_install

    gpu_install.install(resolve(args.backend, for_up=False)[0], dry_run=args.dry_run)
    return 0
