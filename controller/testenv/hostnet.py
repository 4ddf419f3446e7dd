"""What a test node changes on its host, each change recorded so that teardown undoes exactly it.

A kubelet, kube-proxy and the CNI bridge plugin change the host they run on: a bridge and its routes,
iptables chains, kernel settings, mounts, cgroups. `HostChanges` makes those changes (or takes note of the
ones the components make) and undoes them in reverse, touching nothing that was there before it started.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import random
import re
import shlex
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

# The kubelet sets the first five at start-up (protectKernelDefaults off); kube-proxy and the bridge plugin
# may set the rest even with the settings the harness gives them. All are read before and restored after.
WATCHED_SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/route_localnet",
    "net/netfilter/nf_conntrack_max",
    "net/netfilter/nf_conntrack_tcp_timeout_established",
    "net/netfilter/nf_conntrack_tcp_timeout_close_wait",
)
OWNED_CHAIN = re.compile(r"^(KUBE-|CNI-)")
TABLES = ("filter", "nat", "mangle")


@dataclass(frozen=True)
class NodeNetwork:
    """The node's private ranges and bridge; picked per run so two harnesses cannot share them."""

    bridge: str
    pod_cidr: str
    service_cidr: str

    @property
    def gateway(self) -> str:
        """The bridge's address: the node IP, where the API server and the emulator listen for Pods."""
        return str(next(ipaddress.ip_network(self.pod_cidr).hosts()))

    @property
    def gateway_cidr(self) -> str:
        return f"{self.gateway}/{ipaddress.ip_network(self.pod_cidr).prefixlen}"


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=60)


def _networks_in_use() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network that a route or an address of this host already covers."""
    found: list[ipaddress.IPv4Network] = []
    for argv in (("ip", "-4", "route", "show", "table", "all"), ("ip", "-4", "-o", "addr", "show")):
        for token in _run(*argv).stdout.split():
            with contextlib.suppress(ValueError):
                if "/" in token or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", token):
                    net = ipaddress.ip_network(token, strict=False)
                    if isinstance(net, ipaddress.IPv4Network) and net.prefixlen > 0:
                        found.append(net)
    return found


def pick_network(run_id: str) -> NodeNetwork:
    """A /24 for Pods and a /24 for Services in 10.128.0.0/9 that no route or address of the host touches."""
    in_use = _networks_in_use()
    rng = random.Random()
    for _ in range(200):
        second, third = rng.randrange(128, 256), rng.randrange(0, 256, 2)
        pods = ipaddress.ip_network(f"10.{second}.{third}.0/24")
        services = ipaddress.ip_network(f"10.{second}.{third + 1}.0/24")
        if not any(pods.overlaps(n) or services.overlaps(n) for n in in_use):
            return NodeNetwork(bridge=f"vxn{run_id[:8]}", pod_cidr=str(pods), service_cidr=str(services))
    raise RuntimeError("no free private range for the node's network")


def _read_sysctl(name: str) -> str | None:
    try:
        return Path("/proc/sys", name).read_text().strip()
    except OSError:
        return None


def _write_sysctl(name: str, value: str) -> None:
    with contextlib.suppress(OSError):
        Path("/proc/sys", name).write_text(value)


def _chains(binary: str, table: str) -> set[str]:
    result = _run(binary, "-t", table, "-S", check=False)
    return {line.split()[1] for line in result.stdout.splitlines() if line.startswith("-N ")}


def _iptables_binaries() -> list[str]:
    return [b for b in ("iptables", "ip6tables") if _run("sh", "-c", f"command -v {b}", check=False).stdout]


@dataclass
class HostChanges:
    """The record of one node's changes to its host, in the order they were made."""

    network: NodeNetwork
    cgroup_name: str
    saved_sysctls: dict[str, str | None] = field(default_factory=dict)
    chains_before: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    netns_before: set[str] = field(default_factory=set)
    bridge_created: bool = False
    route_added: bool = False
    confined: bool = False
    cgroups_created: list[Path] = field(default_factory=list)

    # -- making -----------------------------------------------------------------------------------------

    def record_baseline(self) -> None:
        """What is there before the node starts: kernel settings, iptables chains, network namespaces."""
        self.saved_sysctls = {name: _read_sysctl(name) for name in WATCHED_SYSCTLS}
        for binary in _iptables_binaries():
            for table in TABLES:
                self.chains_before[(binary, table)] = _chains(binary, table)
        self.netns_before = set(_netns_names())

    def create_bridge(self) -> None:
        """The bridge the CNI plugin attaches Pods to, made first so the API server can bind its address.

        The Service range is routed to the bridge too: a packet to a ClusterIP that kube-proxy has not
        (or no longer) rewritten then stays on this private network instead of following the default route.
        """
        net = self.network
        _run("ip", "link", "add", "name", net.bridge, "type", "bridge")
        self.bridge_created = True
        _run("ip", "addr", "add", net.gateway_cidr, "dev", net.bridge)
        _run("ip", "link", "set", net.bridge, "up")
        _run("ip", "route", "add", net.service_cidr, "dev", net.bridge)
        self.route_added = True
        # Forwarding is on for Services; Pods still never reach past the host: whatever they send to an
        # address outside their own range that is not the host's is dropped.
        _run("iptables", *self._confine_rule("-I"))
        self.confined = True
        _write_sysctl("net/ipv4/ip_forward", "1")

    def _confine_rule(self, action: str) -> list[str]:
        pods = self.network.pod_cidr
        return [action, "FORWARD", "-s", pods, "!", "-d", pods, "-j", "DROP"]

    def create_cgroups(self) -> str:
        """The kubelet's cgroup root, one folder per cgroup v1 controller (or one in the v2 hierarchy)."""
        base = Path("/sys/fs/cgroup")
        roots = (
            [base]
            if (base / "cgroup.controllers").exists()
            else [p for p in base.iterdir() if p.is_dir() and not p.is_symlink() and p.name != "unified"]
        )
        for controller in roots:
            path = controller / self.cgroup_name
            with contextlib.suppress(OSError):
                path.mkdir()
                self.cgroups_created.append(path)
                if controller.name == "cpuset":  # a cpuset cgroup takes no task until it has cpus and mems
                    for name in ("cpuset.cpus", "cpuset.mems"):
                        (path / name).write_text((controller / name).read_text())
        return "/" + self.cgroup_name

    # -- undoing ----------------------------------------------------------------------------------------

    def kill_cgroup_processes(self) -> None:
        """SIGKILL whatever still runs in the node's cgroups (containers the runtime did not stop)."""
        for root in self.cgroups_created:
            for procs in root.rglob("cgroup.procs"):
                with contextlib.suppress(OSError):
                    for pid in procs.read_text().split():
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            os.kill(int(pid), 9)

    def remove_netns(self) -> None:
        """Network namespaces the runtime made for Pods and left behind (named cni-*)."""
        for name in set(_netns_names()) - self.netns_before:
            if name.startswith("cni-"):
                path = Path("/run/netns") / name
                _run("umount", "-l", str(path), check=False)
                with contextlib.suppress(OSError):
                    path.unlink()

    def remove_iptables_chains(self) -> None:
        """Delete the KUBE-* and CNI-* chains that appeared, and the rules that jump to them."""
        for (binary, table), before in self.chains_before.items():
            dump = _run(binary, "-t", table, "-S", check=False).stdout.splitlines()
            new = {line.split()[1] for line in dump if line.startswith("-N ")} - before
            ours = {c for c in new if OWNED_CHAIN.match(c)}
            if not ours:
                continue
            for line in dump:
                words = shlex.split(line)  # comments are quoted: "kubernetes service portals"
                if words[:1] == ["-A"] and words[1] not in ours and _jumps_to(words, ours):
                    _run(binary, "-t", table, "-D", *words[1:], check=False)
            for chain in ours:
                _run(binary, "-t", table, "-F", chain, check=False)
            for chain in ours:
                _run(binary, "-t", table, "-X", chain, check=False)

    def remove_network(self) -> None:
        if self.confined:
            _run("iptables", *self._confine_rule("-D"), check=False)
            self.confined = False
        if self.route_added:
            _run("ip", "route", "del", self.network.service_cidr, "dev", self.network.bridge, check=False)
            self.route_added = False
        if self.bridge_created:
            _run("ip", "link", "del", self.network.bridge, check=False)
            self.bridge_created = False

    def restore_sysctls(self) -> None:
        for name, value in self.saved_sysctls.items():
            if value is not None and _read_sysctl(name) != value:
                _write_sysctl(name, value)

    def remove_cgroups(self) -> None:
        # On a hybrid cgroup v1 host runc also makes the cgroup root in the unified (v2) hierarchy.
        unified = Path("/sys/fs/cgroup/unified") / self.cgroup_name
        if unified.is_dir() and unified not in self.cgroups_created:
            self.cgroups_created.append(unified)
        for root in self.cgroups_created:
            for _ in range(20):
                for path in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                    with contextlib.suppress(OSError):
                        path.rmdir()
                with contextlib.suppress(OSError):
                    root.rmdir()
                if not root.exists():
                    break
                time.sleep(0.25)
        self.cgroups_created = [r for r in self.cgroups_created if r.exists()]


def _jumps_to(words: list[str], chains: set[str]) -> bool:
    return any(words[i] in ("-j", "-g") and words[i + 1] in chains for i in range(len(words) - 1))


def _netns_names() -> Iterable[str]:
    with contextlib.suppress(OSError):
        return [p.name for p in Path("/run/netns").iterdir()]
    return []


def mounts_under(directory: Path) -> list[str]:
    """Mount points at or below `directory`, deepest first (the order they can be unmounted in)."""
    prefix = str(directory.resolve())
    points = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    return sorted(set(points), key=lambda p: -p.count("/"))


def unmount_all(directory: Path) -> None:
    for _ in range(3):
        points = mounts_under(directory)
        if not points:
            return
        for point in points:
            if _run("umount", point, check=False).returncode != 0:
                _run("umount", "-l", point, check=False)
