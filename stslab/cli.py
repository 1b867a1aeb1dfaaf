"""The ``stslab`` command line: cluster, labs, GPU plugin, workshop and progress commands.

The labs' and the GPU plugin's commands are in :mod:`stslab.commands` (``labs.py``,
``lab_folder.py``, ``gpu.py``), with the parser class and options every command shares
(``parsing.py``).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from stslab.cluster.choose import BACKENDS, UpOptions, get_backend, resolve
from stslab.cluster.containers import K3dBackend, KindBackend
from stslab.commands.gpu import add_gpu
from stslab.commands.lab_folder import add_lab
from stslab.commands.labs import add_labs
from stslab.commands.parsing import Commands, Handler, Parser, backend_arg
from stslab.core.errors import StslabError, ToolMissingError, UsageError
from stslab.core.kube import explain, kubectl_env
from stslab.core.procs import LOOPBACK
from stslab.core.versions import minor, pinned, release

if TYPE_CHECKING:
    from stslab.ops.confinement import Target


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs).

    Every command's parser sets ``func``, the handler :func:`main` calls with the parsed args.
    """
    parser = Parser(prog="stslab", description="Lab clusters for learning StatefulSets.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    _add_up(sub)
    _add_cluster_commands(sub)
    add_labs(sub)
    add_lab(sub)
    _add_workshop(sub)
    _add_progress(sub)
    _add_images(sub)
    add_gpu(sub)
    return parser


def _add_up(sub: Commands[Parser]) -> None:
    p = sub.add_parser("up", help="bring a lab cluster up (or restart a stopped one)")
    p.set_defaults(func=_up)
    backend_arg(p)
    p.add_argument("--nodes", type=int, default=3, help="worker nodes (default 3)")
    p.add_argument(
        "--gpus-per-node", type=int, default=8, help="simulated GPUs per worker (default 8)"
    )
    p.add_argument(
        "--port",
        type=int,
        dest="api_port",
        help="kwok: apiserver port on 127.0.0.1 (default 36443)",
    )
    p.add_argument("--dns-port", type=int, help="kwok: CoreDNS port on 127.0.0.1 (default 35353)")
    p.add_argument(
        "--ready-delay-ms", type=int, help="kwok: time a pod takes to become Ready (default 2000)"
    )
    p.add_argument(
        "--real-node",
        action="store_true",
        help="kwok: also join a real node (kubelet + containerd, real pods; needs root)",
    )
    p.add_argument(
        "--node-image",
        help="kind: `offline` for stslab's node image built from Debian packages and our own "
        "Kubernetes build (`make kind-image`), or an image reference (default: the pinned one)",
    )
    p.add_argument(
        "--kubernetes",
        metavar="MINOR",
        help="kwok: the Kubernetes release, one of "
        + ", ".join(minor(r) for r in pinned().releases)
        + f" (default {minor(pinned().kubernetes)}; another is built once, about 8 min)",
    )
    p.add_argument("--context", help="existing: the kubeconfig context of the shared cluster")
    p.add_argument("--namespace", help="existing: your namespace (default stslab-<user>)")


def _add_cluster_commands(sub: Commands[Parser]) -> None:
    """The lab cluster's commands other than ``up``: each takes only ``--backend``."""
    commands: tuple[tuple[str, str, Handler], ...] = (
        ("down", "tear the lab cluster down and delete its state", _down),
        ("stop", "stop the lab cluster, keeping its data (kwok)", _stop),
        ("status", "show the lab cluster's state and nodes", _status),
        (
            "env",
            "print `export KUBECONFIG=... PATH=...` (the pinned kubectl) for the lab cluster",
            _env,
        ),
        ("which", "print the backend `stslab up` would use (reason on stderr)", _which),
        ("doctor", "what each backend needs: present, missing, and the fix", _doctor),
    )
    for name, text, func in commands:
        p = sub.add_parser(name, help=text)
        p.set_defaults(func=func)
        backend_arg(p)


def _add_workshop(sub: Commands[Parser]) -> None:
    ws = sub.add_parser("workshop", help="learner namespaces, accounts and kubeconfigs")
    ws_sub = ws.add_subparsers(dest="workshop_command", required=True, parser_class=Parser)
    p = ws_sub.add_parser("create", help="make every learner's namespace, rights and kubeconfig")
    p.set_defaults(func=_workshop_create)
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--learners", type=int, metavar="N", help="N learners named 01..N")
    who.add_argument("--names", metavar="A,B,C", help="learners by name")
    p.add_argument("--hours", type=int, default=24, help="how long the tokens last (default 24)")
    commands: tuple[tuple[str, str, Handler], ...] = (
        ("delete", "remove everything `create` made, and the kubeconfigs", _workshop_delete),
        ("list", "list the learners, their namespaces and kubeconfigs", _workshop_list),
    )
    for name, text, func in commands:
        ws_sub.add_parser(name, help=text).set_defaults(func=func)
    p = ws_sub.add_parser(
        "check", help="before class: run the labs on a throw-away learner account, then delete it"
    )
    p.set_defaults(func=_workshop_check)
    p.add_argument("numbers", nargs="*", metavar="NN", help="labs to run (default: all)")
    p = ws_sub.add_parser("serve", help="serve the room: JupyterHub, one account per learner")
    p.set_defaults(func=_workshop_serve)
    p.add_argument("--ip", default=LOOPBACK, help=f"where to listen (default {LOOPBACK})")
    p.add_argument("--port", type=int, default=8000, help="the hub's port (default 8000)")
    p.add_argument("--root", type=Path, help="the room's folder (default /srv/stslab/<workshop>)")
    p.add_argument("--stop", action="store_true", help="stop the hub and every learner's server")
    p.add_argument(
        "--kubernetes",
        action="store_true",
        help="the hub and each learner's server as pods on the workshop's cluster (KubeSpawner)",
    )
    p.add_argument(
        "--image",
        help="with --kubernetes: an image the cluster can pull (default: built, loaded into kind)",
    )
    p = ws_sub.add_parser(
        "say", help="a message to the room, or to one learner, at their next check"
    )
    p.set_defaults(func=_workshop_say)
    p.add_argument("text", help="the message")
    p.add_argument("--learner", help="only this learner (default: everyone)")
    p.add_argument(
        "--hint", metavar="EXERCISE", help="send it as a hint for this exercise (e.g. my_order)"
    )
    for p in ws_sub.choices.values():  # options every workshop command takes, last
        p.add_argument("--context", help="your kubeconfig context (default: its current one)")
        p.add_argument("--kubeconfig", type=Path, help="your kubeconfig (default: KUBECONFIG)")
        p.add_argument("--workshop", help="the workshop's name (default: stslab)")
        if p.prog.split()[-1] != "list":
            p.add_argument("--yes", action="store_true", help="do not ask (no terminal)")


def _add_progress(sub: Commands[Parser]) -> None:
    p = sub.add_parser("progress", help="learners' check results")
    p.set_defaults(func=_progress)
    p.add_argument("--learner", help="whose (default: STSLAB_LEARNER, else the latest here)")
    p.add_argument(
        "--all", action="store_true", help="every learner (a workshop's: read from its cluster)"
    )


def _add_images(sub: Commands[Parser]) -> None:
    """The commands for offline workshops: preloading images, building kind's node image."""
    p = sub.add_parser("images", help="commands that preload the labs' images (offline workshops)")
    p.set_defaults(func=_images)
    p.add_argument("--backend", choices=("kind", "k3d"), default="kind")

    p = sub.add_parser(
        "kind-image", help="build kind's node image offline (Debian packages + our build)"
    )
    p.set_defaults(func=_kind_image)
    p.add_argument("--force", action="store_true", help="rebuild even if it exists")
    p.add_argument("--prune", action="store_true", help="remove older stslab node images")


def _up(args: argparse.Namespace) -> int:
    release(args.kubernetes)  # an unknown release is refused before anything starts
    backend, why = resolve(args.backend, for_up=True)
    if args.real_node and not backend.can_join_real_node:
        raise UsageError(
            f"--real-node works only with the kwok backend, not {backend.name}",
            "use `stslab up --backend kwok --real-node`",
        )
    backend.require_release_choice(args.kubernetes)
    if args.node_image and not backend.takes_node_image:
        raise UsageError(
            f"--node-image works only with the kind backend, not {backend.name}",
            "use `stslab up --backend kind --node-image offline`",
        )
    print(f"backend: {why}")
    opts = UpOptions(
        nodes=args.nodes,
        gpus_per_node=args.gpus_per_node,
        api_port=args.api_port,
        dns_port=args.dns_port,
        ready_delay_ms=args.ready_delay_ms,
        context=args.context,
        namespace=args.namespace,
        real_node=args.real_node,
        node_image=args.node_image,
        kubernetes=args.kubernetes,
    )
    start = time.monotonic()
    rec = backend.up(opts)
    print(f"{backend.name} lab cluster is up ({time.monotonic() - start:.1f}s)")
    _print_status(backend.name)
    print(f"use it from a shell with:  eval $(stslab env --backend {backend.name})")
    del rec
    return 0


def _print_status(name: str | None) -> int:
    st = resolve(name, for_up=False)[0].status()
    print(f"{st.backend}: {st.state}" + (f" — {st.detail}" if st.detail else ""))
    if st.kubernetes:
        print(f"  Kubernetes {st.kubernetes}")
    if st.nodes:
        print(f"  {'NODE':<22}{'READY':<7}{'ZONE':<9}GPUS")
        for n in st.nodes:
            ready = "yes" if n["ready"] else "no"
            print(f"  {n['name']:<22}{ready:<7}{n['zone'] or '-':<9}{n['gpus']}")
    if st.gpus:
        print(f"  GPUs: {st.gpus}")
    return 0 if st.state == "running" else 3


def _down(args: argparse.Namespace) -> int:
    backend = resolve(args.backend, for_up=False)[0]
    start = time.monotonic()
    backend.down()
    print(f"{backend.name} lab cluster removed ({time.monotonic() - start:.1f}s)")
    return 0


def _stop(args: argparse.Namespace) -> int:
    backend = resolve(args.backend, for_up=False)[0]
    backend.stop()
    print(f"{backend.name} lab cluster stopped; `stslab up` restarts it with its data")
    return 0


def _status(args: argparse.Namespace) -> int:
    return _print_status(args.backend)


def _env(args: argparse.Namespace) -> int:
    rec = resolve(args.backend, for_up=False)[0].record()
    if rec is None:
        raise StslabError("the lab cluster is not fully up", "run `stslab up`")
    env = kubectl_env(rec.kubeconfig, "", rec.extra.get("kubernetes"))  # PATH: kubectl's dir alone
    print(f"export KUBECONFIG={shlex.quote(env['KUBECONFIG'])}")
    if "PATH" in env:
        print(f'export PATH={shlex.quote(env["PATH"])}:"$PATH"')
    if "dns_port" in rec.extra:
        print(f"export STSLAB_DNS_PORT={rec.extra['dns_port']}")
    return 0


def _which(args: argparse.Namespace) -> int:
    backend, why = resolve(args.backend, for_up=True)
    print(backend.name)
    print(why, file=sys.stderr)
    return 0


def _doctor(args: argparse.Namespace) -> int:
    names = [args.backend] if args.backend and args.backend != "auto" else list(BACKENDS)
    all_ok = True
    for name in names:
        backend = get_backend(name)
        checks = backend.checks()
        ok = all(c.ok for c in checks)
        all_ok &= ok or not backend.essential
        print(f"{name}: {'ready' if ok else 'not ready'}")
        optional = backend.optional_checks()
        for i, c in enumerate(checks + optional):
            if i == len(checks):
                print("  optional (not needed for the backend itself):")
            mark = "ok " if c.ok else "MISSING"
            line = f"  [{mark}] {c.what}" + (f" — {c.detail}" if c.detail else "")
            print(line + (f"\n            fix: {c.fix}" if c.fix else ""))
    if not args.backend or args.backend == "auto":
        backend, why = resolve(None, for_up=True)
        print(f"auto would choose: {why}")
    return 0 if all_ok else 1


def _images(args: argparse.Namespace) -> int:
    backend = get_backend(args.backend)
    if not isinstance(backend, (KindBackend, K3dBackend)):  # argparse allows only these
        raise UsageError(f"{args.backend} loads no images", "use --backend kind or k3d")
    for cmd in backend.preload_commands():
        print(shlex.join(cmd))
    return 0


def _workshop_create(args: argparse.Namespace) -> int:
    from stslab.ops import workshop

    names = workshop.learner_names(args.learners, args.names)
    t = workshop.target(args.kubeconfig, args.context)
    name = args.workshop or workshop.DEFAULT_WORKSHOP
    workshop.confirm(t, f"create {len(names)} learner namespace(s) for {name!r}", yes=args.yes)
    learners = workshop.create(workshop.admin_client(t), t, names, workshop=name, hours=args.hours)
    rows = [
        {
            "learner": x.name,
            "namespace": x.namespace,
            "login code": x.code,
            "token expires": x.expires,
            "kubeconfig": x.kubeconfig,
        }
        for x in learners
    ]
    print(workshop.table(rows))
    first = learners[0]
    print(
        "serve the room with `stslab workshop serve`: learners log in with their name and code "
        "(shown only now; `create` again gives new ones)"
    )
    print(
        "or a learner on their own machine starts with:  KUBECONFIG=<their kubeconfig> "
        f"stslab up --backend existing --context {first.namespace} --namespace {first.namespace}"
    )
    return 0


def _workshop_check(args: argparse.Namespace) -> int:
    from stslab.ops import runner, workshop

    t = workshop.target(args.kubeconfig, args.context)
    name = args.workshop or workshop.DEFAULT_WORKSHOP
    workshop.confirm(t, "check the labs on a throw-away learner account", yes=args.yes)
    results = workshop.check(workshop.admin_client(t), t, args.numbers, workshop=name)
    print(runner.table(results))
    return 0 if all(r.ok for r in results) else 1


def _recorded_workshop(args: argparse.Namespace) -> tuple[Target, str]:
    """The cluster and name of the workshop ``delete`` and ``list`` act on.

    The options, else what ``create`` recorded, else the current context and the default name.
    """
    from stslab.ops import workshop

    rec = workshop.WorkshopRecord.load()
    if args.context or args.kubeconfig or rec is None:
        t = workshop.target(args.kubeconfig, args.context)
    else:
        t = workshop.Target(Path(rec.kubeconfig), rec.context, rec.server)
    name = args.workshop or (rec.workshop if rec else workshop.DEFAULT_WORKSHOP)
    return t, name


def _workshop_list(args: argparse.Namespace) -> int:
    from stslab.ops import workshop

    t, name = _recorded_workshop(args)
    print(f"workshop {name!r} on {t.describe()}")
    print(workshop.table(workshop.list_learners(workshop.admin_client(t), name)))
    return 0


def _workshop_say(args: argparse.Namespace) -> int:
    from stslab.lab import messages
    from stslab.ops import workshop

    t, name = _recorded_workshop(args)
    if not args.text.strip():
        raise UsageError("the message is empty", "give the text to send in quotes")
    if args.hint is not None and not args.hint.isidentifier():
        raise UsageError(
            f"--hint {args.hint!r} is not an exercise name",
            "name the exercise as the room's table does, e.g. --hint my_order",
        )
    sent = messages.send(workshop.admin_client(t), name, args.text, args.learner, args.hint or "")
    if not sent:
        who = f"learner {args.learner!r}" if args.learner else "any learner"
        raise UsageError(
            f"workshop {name!r} has no {who}", "see `stslab workshop list` for the learners"
        )
    print(f"sent to {len(sent)} learner(s): they see it at their next check")
    return 0


def _workshop_serve(args: argparse.Namespace) -> int:
    from stslab.lab.roster import recorded
    from stslab.ops import hub

    if args.image and not args.kubernetes:
        raise UsageError(
            "--image is for a room on the cluster", "add --kubernetes, or drop --image"
        )
    if args.root and args.kubernetes:
        raise UsageError("--root is for a room on this machine", "drop it with --kubernetes")
    rec = recorded()
    if args.workshop and args.workshop != rec.workshop:
        raise UsageError(
            f"the workshop here is {rec.workshop!r}, not {args.workshop!r}",
            "leave out --workshop, or set STSLAB_STATE to that workshop's state directory",
        )
    if args.stop:
        running = hub.HubRecord.load()
        if running is None or not (running.running() or running.namespace):
            raise UsageError("no room is served here", "start one with `stslab workshop serve`")
        hub.stop(running)
        if running.namespace:
            from stslab.ops import hub_kube

            hub_kube.remove(running)
        print(f"stopped the hub at {running.url} and every learner's server")
        return 0
    started = time.monotonic()
    if args.kubernetes:
        from stslab.ops import hub_kube

        hub.check_address(args.ip, args.port)
        on_cluster = hub_kube.serve(rec, ip=args.ip, port=args.port, image=args.image)
        print(f"the room is served at {on_cluster.url} ({time.monotonic() - started:.0f} s)")
        print(f"its hub and each learner's server are pods (hub: namespace {on_cluster.namespace})")
        print("learners log in with their learner name and the code `workshop create` printed")
        print("stop it with `stslab workshop serve --stop`; `stslab workshop delete` removes it")
        return 0
    root = args.root or hub.default_root(rec.workshop)
    served, code = hub.serve(rec, ip=args.ip, port=args.port, root=root)
    print(f"the room is served at {served.url} ({time.monotonic() - started:.0f} s)")
    print("learners log in with their learner name and the code `workshop create` printed")
    print(f"you log in as {hub.INSTRUCTOR!r} with the code {code} (shown only now)")
    print("stop it with `stslab workshop serve --stop`; `stslab workshop delete` removes it all")
    return 0


def _workshop_delete(args: argparse.Namespace) -> int:
    from stslab.lab import messages
    from stslab.ops import hub, workshop

    t, name = _recorded_workshop(args)
    workshop.confirm(t, f"delete workshop {name!r}", yes=args.yes)
    served = hub.HubRecord.load()
    if served is not None and served.workshop == name:
        present = hub.logged_in(served)
        if present:
            print(f"telling {len(present)} learner(s) still working: {', '.join(present)}")
            messages.send(
                workshop.admin_client(t),
                name,
                "The workshop is over: your server stops now and your files on this host are "
                "removed.",
                None,
                "",
            )
        if served.namespace:
            from stslab.ops import hub_kube

            hub_kube.remove(served)
        hub.remove(served)
        n = len(served.accounts)
        made = (
            f"its hub and {n} learner(s)' server pods"
            if served.namespace
            else f"{n} Unix account(s)"
        )
        print(f"stopped the room at {served.url}; removed {made}")
    gone = workshop.delete(workshop.admin_client(t), name)
    print(
        f"deleted {len(gone.namespaces)} namespace(s), {len(gone.cluster_objects)} cluster "
        "object(s) (rights, admission policies, learners' volumes and machines), "
        f"{len(gone.files)} kubeconfig(s)"
    )
    return 0


def _progress(args: argparse.Namespace) -> int:
    import os

    from stslab.lab import progress
    from stslab.ops import workshop

    rec = workshop.WorkshopRecord.load() if args.all else None
    if rec is not None:
        t = workshop.Target(Path(rec.kubeconfig), rec.context, rec.server)
        records = progress.read_workshop(workshop.admin_client(t), rec.workshop)
        where = f"workshop {rec.workshop!r} ({len(rec.learners)} learners, context {rec.context})"
    else:
        records = progress.load_local()
        where = f"this machine ({progress.local_path()})"
    learner = args.learner
    if learner is None and not args.all:
        learner = os.environ.get("STSLAB_LEARNER") or (records[-1].learner if records else None)
    if learner is not None:
        records = [r for r in records if r.learner == learner]
    if not records:
        who = f"learner {learner!r}" if learner else "anyone"
        print(f"no results yet for {who} on {where}")
        return 0
    print(f"results on {where}" + (f", learner {learner}" if learner else ""))
    if args.all and learner is None:
        print(progress.overview(records).to_string())
    else:
        print(progress.summary(records).to_string(index=False))
    return 0


def _kind_image(args: argparse.Namespace) -> int:
    from stslab.cluster.containers import docker_usable
    from stslab.cluster.images import kindnode

    ok, why = docker_usable()
    if not ok:
        raise ToolMissingError(
            f"building the kind node image needs a Docker engine: {why}",
            "start Docker (e.g. `sudo systemctl start docker`) and re-run",
        )
    start = time.monotonic()
    ref = kindnode.build(say=lambda m: print(f"[kind-image] {m}", flush=True), force=args.force)
    if args.prune:
        kindnode.remove_stale(ref, say=lambda m: print(f"[kind-image] {m}"))
    print(f"{ref} ({time.monotonic() - start:.1f}s)")
    print("use it with:  stslab up --backend kind --node-image offline")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stslab`` command: parse, then run the command's handler (``func``)."""
    try:
        args = build_parser().parse_args(argv)
        func: Handler | None = getattr(args, "func", None)
        if func is None:
            raise UsageError(f"unknown command {args.command!r}", "see `stslab --help`")
        return func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `stslab status | head -2`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as e:
        known = explain(e)
        if known is None:
            raise
        print(f"error: {known}", file=sys.stderr)
        return known.exit_code


if __name__ == "__main__":
    sys.exit(main())
