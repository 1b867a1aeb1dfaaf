"""The simulated backend: a real control plane run by kwokctl, kwok nodes, CoreDNS on loopback.

Layout of ``<state>/kwok``::

    cluster.json   the record (ports, nodes, GPUs)
    kubeconfig     the labs' kubeconfig (context ``kwok-stslab``)
    home/          kwokctl's work dir (certs, etcd data, component logs)
    volumes/       what the controller-manager sees as /tmp: every host-path volume
    bin/           the confined controller-manager wrapper
    coredns.*      CoreDNS's Corefile, pid and log
    realnode/      with ``--real-node``: the real node's state (see :mod:`~.realnode`)

What it hands kwokctl (binaries, stages, the confined controller-manager) is made by
:mod:`~.files`; kwokctl is run, and its components' pid files read, through :mod:`~.kwokctl`;
:mod:`~.readiness` waits for the nodes; its processes are found, named when dead, and
supervised through :mod:`~.processes`, and ended (their logs kept after a failed start) through
:mod:`~.leftovers`; its ports, key prefix and identity are :mod:`~.isolation`'s; what
``stslab status`` says about it is :mod:`~.status`'s.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from kubernetes import client

from stslab.cluster import dns
from stslab.cluster import nodes as labnodes
from stslab.cluster.base import Backend, Check, ClusterRecord, Status, UpOptions
from stslab.cluster.dns import CoreDNS
from stslab.cluster.kwok import realnode, realnode_setup
from stslab.cluster.kwok.datastore import PKI
from stslab.cluster.kwok.files import (
    binaries,
    binary_checks,
    build_release,
    write_confined_controller_manager,
    write_stages,
)
from stslab.cluster.kwok.isolation import (
    check_identity,
    choose_ports,
    identity,
    kubeconfig_ok,
    recorded_ports,
    write_config,
)
from stslab.cluster.kwok.kwokctl import (
    KWOKCTL_COMPONENTS,
    component_pid,
    create_args,
    forget_pids,
    run_kwokctl,
)
from stslab.cluster.kwok.leftovers import end_processes, keep_logs
from stslab.cluster.kwok.processes import exited, pids_mentioning, start_supervisor
from stslab.cluster.kwok.readiness import start_real_node, wait_nodes_ready
from stslab.cluster.kwok.status import running_status, serving
from stslab.cluster.kwok.supervisor import stop_supervisor
from stslab.core.errors import ClusterStateError, StslabError, ToolMissingError, UsageError
from stslab.core.files import write_atomic
from stslab.core.kube import api_client
from stslab.core.paths import project_root
from stslab.core.procs import require_port
from stslab.core.versions import minor, pinned, release

CLUSTER = "stslab"
CONTEXT = f"kwok-{CLUSTER}"
DEFAULT_API_PORT = 36443
DEFAULT_DNS_PORT = 35353


class KwokBackend(Backend):
    """A real Kubernetes control plane with kwok-simulated nodes; no containers needed."""

    name = "kwok"
    runs_containers = False  # kwok plays the kubelet: pods go Running, nothing runs
    can_add_nodes = True
    immediate_binding = True  # the host-path provisioner provisions at once
    can_join_real_node = True
    essential = True  # the backend without Docker: every machine can have it
    can_power_nodes = True  # a simulated node's heartbeats stop (see power_node)
    chooses_release = True  # each release's binaries built side by side in the cache
    _wanted: str | None = None  # the release `up` is making (before a record names it)

    def local_volume_dir(self, rec: ClusterRecord) -> Path | None:
        """``.stslab/kwok/volumes``: what the confined controller-manager sees as ``/tmp``."""
        return Path(rec.extra["volumes"])

    def dns_server(self, rec: ClusterRecord) -> tuple[str, int] | None:
        """The lab's CoreDNS on loopback."""
        return ("127.0.0.1", int(rec.extra["dns_port"]))

    def power_node(self, rec: ClusterRecord, node: str, on: bool) -> None:
        """Stop a simulated node's heartbeats (``on`` False), as a machine losing power does."""
        labnodes.switch_heartbeats(api_client(rec.kubeconfig), node, on=on)

    # -- paths -------------------------------------------------------------------------
    @property
    def home(self) -> Path:
        """Kwokctl's work dir (``KWOK_WORKDIR``)."""
        return self.dir / "home"

    @property
    def cluster_dir(self) -> Path:
        """Kwokctl's directory for our cluster."""
        return self.home / "clusters" / CLUSTER

    @property
    def volumes(self) -> Path:
        """The lab-owned directory that holds every host-path volume."""
        return self.dir / "volumes"

    def binaries(self) -> dict[str, Path]:
        """Paths of every binary the backend runs, in the versioned cache."""
        return binaries(self.kubernetes)

    @property
    def kubernetes(self) -> str:
        """The release this cluster runs: the recorded one, else the one `up` was asked for."""
        rec = self.record() if self.record_path.exists() else None
        return (rec.extra.get("kubernetes") if rec else None) or self._wanted or pinned().kubernetes

    def coredns(self, rec: ClusterRecord) -> CoreDNS:
        """The CoreDNS of a recorded cluster."""
        return CoreDNS(
            binary=self.binaries()["coredns"],
            workdir=self.dir,
            port=int(rec.extra["dns_port"]),
            ready_port=int(rec.extra["dns_ready_port"]),
        )

    def real_node(self) -> realnode.RealNode:
        """The cluster's real node (``stslab up --real-node``), its state in ``realnode/``."""
        return realnode.RealNode(self.dir / "realnode", self.kubeconfig_path, context=CONTEXT)

    # -- requirements --------------------------------------------------------------------
    def checks(self) -> list[Check]:
        """Binaries built, and the tools used to confine the controller-manager."""
        return binary_checks(self.binaries())

    def optional_checks(self) -> list[Check]:
        """The other releases built (``--kubernetes``); what ``--real-node`` needs."""
        others = [r for r in pinned().releases if r != pinned().kubernetes]
        built = [minor(r) for r in others if binaries(r)["kube-apiserver"].exists()]
        later = [minor(r) for r in others if minor(r) not in built]
        said = ", ".join(built) or "none"
        if later:
            said += f"; {', '.join(later)} built on first use (about 5 min each)"
        releases = Check("--kubernetes: other releases built", True, said)
        missing = realnode_setup.missing_requirements()
        if not missing:
            return [releases, Check("--real-node: real node requirements", True, "all present")]
        return [releases] + [
            Check(f"--real-node: {what}", False, "missing", fix) for what, fix in missing
        ]

    def _require_binaries(self) -> None:
        missing = [c for c in self.checks() if not c.ok]
        if missing:
            names = ", ".join(c.what for c in missing)
            raise ToolMissingError(f"the simulated cluster needs: {names}", missing[0].fix)

    # -- lifecycle -------------------------------------------------------------------------
    def _kwokctl(self, *args: str, timeout: float = 180) -> str:
        return run_kwokctl(self.binaries()["kwokctl"], self.home, CLUSTER, *args, timeout=timeout)

    def _stages(self, ready_delay_ms: int | None) -> Path:
        return write_stages(self.dir / "stages.yaml", ready_delay_ms)

    def _confined_controller_manager(self) -> Path:
        return write_confined_controller_manager(
            self.binaries()["kube-controller-manager"], self.home, self.volumes, self.dir / "bin"
        )

    def up(self, opts: UpOptions) -> ClusterRecord:
        """Create the cluster, or restart it when it was stopped (its etcd data is kept)."""
        with self.exclusive("up"):
            return self._up(opts)

    def _up(self, opts: UpOptions) -> ClusterRecord:
        """The body of :meth:`up`, under the cluster's lock."""
        opts.validate()
        rec = self.record() if self.record_path.exists() else None
        runs = rec.extra.get("kubernetes", pinned().kubernetes) if rec else None
        if runs and opts.kubernetes and release(opts.kubernetes) != runs:
            raise UsageError(
                f"this lab cluster runs Kubernetes {runs}, not {release(opts.kubernetes)}",
                "`stslab down` first to start another release (its data goes with it)",
            )
        if rec is not None:
            self.heal_kubeconfig()
            if self._healthy(rec):
                raise ClusterStateError(
                    "the kwok lab cluster is already up",
                    "use it (`stslab status`), or `stslab down` first to start afresh",
                )
            return self._restart(rec, opts.real_node)
        self.require_absent()  # a half-made cluster without a record
        api_port = opts.api_port or DEFAULT_API_PORT
        dns_port = opts.dns_port or DEFAULT_DNS_PORT
        require_port(api_port, "kube-apiserver", "--port")
        require_port(dns_port, "CoreDNS", "--dns-port")
        ports = choose_ports(str(self.dir), api_port, dns_port)
        if opts.real_node:  # before anything starts
            realnode_setup.require()
            realnode_setup.check_dir(self.real_node().dir)
        self._wanted = release(opts.kubernetes)
        if not binaries(self._wanted)["kube-apiserver"].exists() and opts.kubernetes:
            build_release(self._wanted)
        self._require_binaries()
        try:
            return self._create(opts, ports)
        except BaseException as e:
            # A component that died explains a wait that timed out better than the wait does.
            exited = (
                self._exited() if isinstance(e, StslabError) and self.cluster_dir.exists() else None
            )
            kept = self._keep_logs()
            self._teardown()  # nothing half-started is left behind
            if exited is not None:
                e = exited
            if isinstance(e, StslabError) and kept:
                e.fix = f"the components' logs are kept in {kept}"
            raise e

    def _keep_logs(self) -> Path | None:
        """Copy the components' logs out of the state about to be removed."""
        logs = [self.cluster_dir / "logs", self.dir / "coredns.log", self.real_node().dir / "logs"]
        return keep_logs(logs, self.dir.parent / "logs" / f"{self.name}-failed-up")

    def _config(self, ports: dict[str, int], tuned: bool) -> Path:
        """The shipped kwokctl configuration with this cluster's ports, written to the state."""
        return write_config(ports, self.dir / "kwokctl.yaml", self.cluster_dir / PKI, tuned=tuned)

    def _create(self, opts: UpOptions, ports: dict[str, int]) -> ClusterRecord:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.volumes / "hostpath_pv").mkdir(parents=True, exist_ok=True)
        stages = self._stages(opts.ready_delay_ms)
        configs = [self._config(ports, opts.tuned), stages]
        self._kwokctl(*create_args(self.binaries(), configs, self._confined_controller_manager()))
        write_atomic(
            self.kubeconfig_path, (self.cluster_dir / "kubeconfig.yaml").read_text(), mode=0o600
        )
        api = api_client(self.kubeconfig_path, CONTEXT)
        core = client.CoreV1Api(api)
        labnodes.create_kwok_nodes(core, opts.nodes, opts.gpus_per_node)
        sc = yaml.safe_load((project_root() / "clusters/kwok/storageclass.yaml").read_text())
        client.StorageV1Api(api).create_storage_class(sc)
        dns.publish(api, ports["coredns"])  # for its other users (a workshop's learners)
        rec = ClusterRecord(
            backend=self.name,
            kubeconfig=str(self.kubeconfig_path),
            context=CONTEXT,
            nodes=opts.nodes,
            gpus_per_node=opts.gpus_per_node,
            extra={
                "api_port": ports["kube-apiserver"],
                "dns_port": ports["coredns"],
                "dns_ready_port": ports["coredns-ready"],
                "ports": ports,
                "identity": str(identity(core)),  # raises, never None, when not quiet
                "volumes": str(self.volumes),
                "kubernetes": self.kubernetes,
            },
        )
        return self._finish_start(rec, core, opts.real_node)

    def _finish_start(
        self, rec: ClusterRecord, core: client.CoreV1Api, with_real_node: bool
    ) -> ClusterRecord:
        """Once the control plane runs: CoreDNS, the nodes Ready, the record, the supervisor."""
        self.coredns(rec).start(self.kubeconfig_path, CONTEXT)
        wait_nodes_ready(core, rec.nodes, self.cluster_dir / "logs")
        self._require_running()
        if with_real_node:
            start_real_node(self.real_node(), core)
            rec.extra["real_node"] = realnode_setup.NODE_NAME
        rec.save(self.record_path)
        start_supervisor(self.dir)
        return rec

    def _restart(self, rec: ClusterRecord, add_real_node: bool = False) -> ClusterRecord:
        """Start a stopped (or crashed) cluster again from its etcd data.

        Its real node too, if it has one (or ``add_real_node``); on a failure everything that
        started is stopped again, and the cluster stays stopped.
        """
        with_real_node = add_real_node or bool(rec.extra.get("real_node"))
        if with_real_node:
            realnode_setup.require()
        self._require_binaries()
        self.real_node().stop()  # what a crashed real node left: bridge, cgroups, processes
        self._kill_leftovers()
        for component, port in self.ports(rec).items():  # before anything starts
            require_port(port, f"{component} of this lab cluster")
        try:
            return self._start_again(rec, with_real_node)
        except BaseException:
            self._halt(rec)
            raise

    def _start_again(self, rec: ClusterRecord, with_real_node: bool) -> ClusterRecord:
        # Drop the pid files of dead components (reading them also heals a live one's).
        dead = [name for name in KWOKCTL_COMPONENTS if self._component_pid(name) is None]
        forget_pids(self.cluster_dir, dead)
        self._confined_controller_manager()
        self._kwokctl("start", "cluster", "--wait", "2m")
        core = client.CoreV1Api(api_client(self.kubeconfig_path, CONTEXT))
        check_identity(rec, core, self.ports(rec), self.cluster_dir / "logs")
        rec.extra["stopped"] = False  # saved once it runs (a failure records it stopped again)
        return self._finish_start(rec, core, with_real_node)

    # -- supervision -------------------------------------------------------------------------
    def component_pids(self) -> dict[str, int | None]:
        """The pid of each control-plane component and CoreDNS (None: not running)."""
        out: dict[str, int | None] = {}
        for name in KWOKCTL_COMPONENTS:
            out[name] = self._component_pid(name)
        rec = self.record()
        if rec is not None:
            out["coredns"] = self.coredns(rec).pid()
        return out

    def _require_running(self) -> None:
        """Refuse a cluster with a component that exited at start, naming it and its last word.

        Nothing else would notice a scheduler that died at once: the nodes still become Ready.
        """
        exited = self._exited()
        if exited is not None:
            raise exited

    def _exited(self) -> ClusterStateError | None:
        logs = {n: self.cluster_dir / "logs" / f"{n}.log" for n in KWOKCTL_COMPONENTS}
        return exited(self.component_pids(), {**logs, "coredns": self.dir / "coredns.log"})

    def _component_pid(self, name: str) -> int | None:
        return component_pid(self.cluster_dir, self.dir, name)

    def revive(self, dead: list[str]) -> None:
        """Start again the components in ``dead``, with their data (the supervisor calls it)."""
        rec = self._require_record()
        control_plane = [name for name in dead if name in KWOKCTL_COMPONENTS]
        if control_plane:
            forget_pids(self.cluster_dir, control_plane)  # or kwokctl would skip them
            self._confined_controller_manager()
            self._kwokctl("start", "cluster", timeout=90)  # no --wait: the next look checks
        if "kwok-controller" in dead:
            labnodes.release_leases(api_client(self.kubeconfig_path, CONTEXT))
        if "coredns" in dead:
            self.coredns(rec).start(self.kubeconfig_path, CONTEXT)

    def _still_up(self) -> bool:
        try:
            rec = self.record() if self.record_path.exists() else None
        except ClusterStateError:
            return False
        return rec is not None and not rec.extra.get("stopped")

    def ports(self, rec: ClusterRecord) -> dict[str, int]:
        """Every port of the cluster, by component."""
        return recorded_ports(rec, self.cluster_dir)

    def heal_kubeconfig(self) -> bool:
        """Write the labs' kubeconfig again from kwokctl's when it is missing or damaged.

        Returns True when it had to. Both files are the lab's own; nothing else is touched.
        """
        if kubeconfig_ok(self.kubeconfig_path, CONTEXT):
            return False
        source = self.cluster_dir / "kubeconfig.yaml"
        if not kubeconfig_ok(source, CONTEXT):
            return False  # nothing to heal from: status reports the cluster broken
        write_atomic(self.kubeconfig_path, source.read_text(), mode=0o600)
        return True

    def stop(self) -> None:
        """Stop every process but keep the cluster's data; `stslab up` starts it again."""
        with self.exclusive("stop"):
            self._stop()

    def _stop(self) -> None:
        """The body of :meth:`stop`, under the cluster's lock."""
        self._halt(self._require_record(), check=True)

    def _halt(self, rec: ClusterRecord, check: bool = False) -> None:
        """Stop the real node, then CoreDNS and the control plane; record the cluster stopped.

        ``check``: a failing ``kwokctl stop`` raises (else the sweep below ends its processes).
        """
        stop_supervisor(self.dir)  # first, or it would start again what is being stopped
        self.real_node().stop()  # while the apiserver still answers the kubelet
        running = self.process_pids()
        self.coredns(rec).stop()
        try:
            self._kwokctl("stop", "cluster")
        except StslabError:
            if check:
                raise
        self._kill_leftovers(running)
        rec.extra["stopped"] = True
        rec.save(self.record_path)

    def down(self) -> None:
        """Stop everything and delete the state directory, volumes included."""
        with self.exclusive("down"):
            self._down()

    def _down(self) -> None:
        """The body of :meth:`down`, under the cluster's lock."""
        if not self.exists():
            raise ClusterStateError(
                "there is no kwok lab cluster to take down", "nothing to do; `stslab up` starts one"
            )
        self._teardown()

    def _teardown(self) -> None:
        stop_supervisor(self.dir)
        self.real_node().stop()  # before the control plane: its kubelet talks to the apiserver
        running = self.process_pids()
        rec = None
        try:
            rec = self.record()
        except ClusterStateError:
            pass  # corrupt record: still clean up below
        if rec is not None and "dns_port" in rec.extra:
            self.coredns(rec).stop()
        if self.cluster_dir.exists() and self.binaries()["kwokctl"].exists():
            try:
                self._kwokctl(
                    "delete", "cluster", "--kubeconfig", str(self.kubeconfig_path), timeout=60
                )
            except StslabError:
                pass  # a broken cluster: the leftover sweep below ends its processes
        self._kill_leftovers(running)
        self.clear_state()

    def _kill_leftovers(self, known: list[int] | None = None) -> None:
        """End every process of this cluster and wait until each is gone (ports released).

        ``known`` are pids seen before a shutdown began: an exiting process no longer shows
        its command line, yet still holds its ports until it is gone.
        """
        end_processes(self.dir, known or [])

    def _require_record(self) -> ClusterRecord:
        rec = self.record()
        if rec is None:
            raise ClusterStateError("there is no kwok lab cluster", "start one with `stslab up`")
        return rec

    # -- status ----------------------------------------------------------------------------
    def _healthy(self, rec: ClusterRecord) -> bool:
        return serving(rec)

    def status(self) -> Status:
        """Running, stopped, broken or absent, with the nodes when running."""
        if not self.exists():
            return Status(self.name, "absent", "no kwok lab cluster; start one with `stslab up`")
        rec = self.record()
        if rec is None:
            return Status(self.name, "broken", "half-created; run `stslab down` to clean up")
        if rec.extra.get("stopped"):
            return Status(
                self.name,
                "stopped",
                "stopped; `stslab up` restarts it with its data",
                kubeconfig=rec.kubeconfig,
            )
        healed = self.heal_kubeconfig()
        if not self._healthy(rec):
            return Status(
                self.name,
                "broken",
                "its processes are not answering; `stslab up` restarts it, "
                "`stslab down` removes it",
                kubeconfig=rec.kubeconfig,
            )
        real_node = self.real_node() if rec.extra.get("real_node") else None
        return running_status(self.name, rec, self.coredns(rec), real_node, self.dir, healed)

    def process_pids(self) -> list[int]:
        """Pids of every control-plane process of this cluster (for benchmarks and tests)."""
        return pids_mentioning(self.dir)


__all__ = ["KwokBackend", "CLUSTER", "CONTEXT", "DEFAULT_API_PORT", "DEFAULT_DNS_PORT"]
