"""Janus (Debian's ``janus`` package) as a benchmark target, run locally and cleanly.

Janus 1.1 leaves loopback interfaces out of its ICE candidates (even with
``ice_enforce_list = "lo"`` it answers with the machine's other addresses only), so a Janus bound
to 127.0.0.1 offers no candidate a local client can reach. ``nat_1_1_mapping = "127.0.0.1"`` only
rewrites the address written into the SDP: libnice's sockets stay bound to the real interface's
address, and a datagram sent to 127.0.0.1 does not reach a socket bound to another address.
Binding Janus to the machine's real interface would expose it beyond loopback. Instead:

* the harness creates a network namespace of its own (``ip netns add``) and a veth pair: one end
  stays here with ``10.213.X.1/30``, the other moves into the namespace with ``10.213.X.2/30``;
  nothing else is in the namespace, nothing routes to it from outside (a private /30 between two
  ends that only this machine has);
* Janus runs inside it (``ip netns exec NS janus ...``: ``ip`` execs Janus, so the PID we hold is
  Janus's own and ``/proc/<pid>/stat`` is its CPU), from a configuration generated into a temp
  directory: only the VideoRoom plugin and the plain HTTP transport, ICE gathering enforced to the
  namespace's veth end, no STUN;
* the benchmark clients gather their own ICE candidates on the host end ``10.213.X.1`` (instead of
  127.0.0.1) and talk to Janus's HTTP API at ``http://10.213.X.2:8088/janus``.

:meth:`JanusNode.stop` kills Janus by PID and deletes the namespace, which deletes the veth pair,
and the configuration folder. What a harness killed before it could stop leaves behind, the next
one deletes (:func:`sweep_stale_namespaces`, :func:`sweep_stale_configs`).
Needs root (or CAP_NET_ADMIN) for ``ip netns``; :func:`janus_available` says whether the package
is installed and namespaces can be made.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness.processes import dies_with_parent, stop_process

JANUS_BINARY = "janus"
LIB_DIRS = (Path("/usr/lib/x86_64-linux-gnu/janus"), Path("/usr/lib/aarch64-linux-gnu/janus"))
HTTP_PORT = 8088
SUBNET_PREFIX = "10.213"
NETNS_PREFIX = "llbench-"
NETNS_DIR = Path("/run/netns")  # ip-netns(8): one file per named namespace, made with it
STALE_AFTER = 60.0  # seconds: far longer than a namespace stays empty while it is set up
CONFIG_PREFIX = "liveloop-janus-"  # + the namespace's name + "-" + mkdtemp's random part
UNUSED_PLUGINS = (
    "audiobridge", "duktape", "echotest", "lua", "nosip", "recordplay", "sip", "streaming",
    "textroom", "videocall", "voicemail",
)  # fmt: skip
UNUSED_TRANSPORTS = ("websockets", "pfunix", "mqtt", "nanomsg", "rabbitmq")


def _so(names: tuple[str, ...]) -> str:
    return ",".join(f"libjanus_{name}.so" for name in names)


@dataclass(frozen=True, slots=True)
class Netns:
    """A network namespace and the veth pair that links it to this one."""

    name: str
    host_if: str
    ns_if: str
    host_ip: str
    ns_ip: str


def netns_for(pid: int, serial: int) -> Netns:
    """Names and a /30 derived from our PID, so concurrent harnesses do not collide."""
    slot = (pid * 7 + serial) % 250 + 1
    tag = f"{pid % 100000}{serial % 10}"
    return Netns(
        name=f"{NETNS_PREFIX}{tag}",
        host_if=f"llb{tag}h"[:15],
        ns_if=f"llb{tag}n"[:15],
        host_ip=f"{SUBNET_PREFIX}.{slot}.1",
        ns_ip=f"{SUBNET_PREFIX}.{slot}.2",
    )


def sweep_stale_namespaces(prefix: str = NETNS_PREFIX, now: float | None = None) -> list[str]:
    """Delete the namespaces (and so their veth pairs) of harnesses that were killed before they
    could: named ours, no process left in them (Janus gets SIGTERM when its harness dies,
    ``dies_with_parent``) and made more than :data:`STALE_AFTER` ago (one being set up by a
    running harness is empty for a moment). A stale one would hold its name and /30 against a
    later harness with the same PID. Returns the names deleted."""
    now = time.time() if now is None else now
    deleted = []
    for path in sorted(NETNS_DIR.glob(f"{prefix}*")):
        try:
            made = path.stat().st_mtime
        except OSError:
            continue
        if now - made < STALE_AFTER:
            continue
        pids = subprocess.run(
            ["ip", "netns", "pids", path.name], capture_output=True, text=True, timeout=20
        )
        if pids.returncode != 0 or pids.stdout.strip():
            continue
        if _quiet(["ip", "netns", "del", path.name]):
            deleted.append(path.name)
    return deleted


def sweep_stale_configs(
    prefix: str = NETNS_PREFIX, now: float | None = None, root: Path | None = None
) -> list[Path]:
    """Delete the configuration folders of harnesses that were killed before they could: each
    is named after its namespace (:class:`JanusNode`), and one whose namespace is gone (deleted
    by its harness's ``stop`` or by :func:`sweep_stale_namespaces`) serves no Janus. Only ours by
    name, and only older than :data:`STALE_AFTER` (a starting harness makes the folder just
    after the namespace). Returns the folders deleted."""
    now = time.time() if now is None else now
    root = Path(tempfile.gettempdir()) if root is None else root
    deleted = []
    for path in sorted(root.glob(f"{CONFIG_PREFIX}{prefix}*-*")):
        namespace = path.name[len(CONFIG_PREFIX) :].rsplit("-", 1)[0]
        try:
            if not path.is_dir() or path.is_symlink() or now - path.stat().st_mtime < STALE_AFTER:
                continue
        except OSError:
            continue
        if (NETNS_DIR / namespace).exists():
            continue
        shutil.rmtree(path, ignore_errors=True)
        deleted.append(path)
    return deleted


def netns_commands(ns: Netns) -> list[list[str]]:
    """The ``ip`` commands that create ``ns`` (pure: the unit tests read them)."""
    return [
        ["ip", "netns", "add", ns.name],
        ["ip", "link", "add", ns.host_if, "type", "veth", "peer", "name", ns.ns_if],
        ["ip", "link", "set", ns.ns_if, "netns", ns.name],
        ["ip", "addr", "add", f"{ns.host_ip}/30", "dev", ns.host_if],
        ["ip", "link", "set", ns.host_if, "up"],
        ["ip", "-n", ns.name, "addr", "add", f"{ns.ns_ip}/30", "dev", ns.ns_if],
        ["ip", "-n", ns.name, "link", "set", ns.ns_if, "up"],
        ["ip", "-n", ns.name, "link", "set", "lo", "up"],
    ]


def lib_dir() -> Path | None:
    for candidate in LIB_DIRS:
        if (candidate / "plugins" / "libjanus_videoroom.so").exists():
            return candidate
    return None


def janus_available() -> str | None:
    """``None`` when Janus can be benchmarked here, else why not."""
    if shutil.which(JANUS_BINARY) is None or lib_dir() is None:
        return "Debian's janus package is not installed"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    if os.geteuid() != 0:
        return "creating a network namespace for Janus needs root (CAP_NET_ADMIN)"
    return None


def janus_config(lib: Path, ns: Netns, log_path: Path) -> dict[str, str]:
    """The generated configuration files, by file name (pure)."""
    main = f"""general: {{
\tconfigs_folder = "."
\tplugins_folder = "{lib / "plugins"}"
\ttransports_folder = "{lib / "transports"}"
\tevents_folder = "{lib / "events"}"
\tloggers_folder = "{lib / "loggers"}"
\tdebug_level = 3
\tlog_to_file = "{log_path}"
\tsession_timeout = 120
\tserver_name = "liveloop-bench"
}}
certificates: {{
}}
media: {{
\trtp_port_range = "20000-40000"
}}
nat: {{
\tnice_debug = false
\tice_enforce_list = "{ns.ns_if}"
\tignore_mdns = true
}}
plugins: {{
\tdisable = "{_so(UNUSED_PLUGINS)}"
}}
transports: {{
\tdisable = "{_so(UNUSED_TRANSPORTS)}"
}}
loggers: {{
\tdisable = "libjanus_jsonlog.so"
}}
events: {{
\tbroadcast = false
}}
"""
    http = f"""general: {{
\tjson = "plain"
\tbase_path = "/janus"
\thttp = true
\tport = {HTTP_PORT}
\tip = "{ns.ns_ip}"
\thttps = false
}}
admin: {{
\tadmin_http = false
\tadmin_https = false
}}
"""
    videoroom = "general: {\n}\n"
    return {
        "janus.jcfg": main,
        "janus.transport.http.jcfg": http,
        "janus.plugin.videoroom.jcfg": videoroom,
    }


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=20)


def _quiet(command: list[str]) -> bool:
    """``command`` run for its effect only: whether it succeeded."""
    return subprocess.run(command, capture_output=True, timeout=20).returncode == 0


class JanusNode:
    """Janus in its own namespace; same surface as :class:`benchmarks.harness.processes.Node`."""

    kind = "janus"
    _serial = 0

    def __init__(self, log_path: Path) -> None:
        why = janus_available()
        lib = lib_dir()
        if why is not None or lib is None:
            raise RuntimeError(f"cannot run Janus: {why}")
        sweep_stale_namespaces()
        sweep_stale_configs()
        JanusNode._serial += 1
        self.ns = netns_for(os.getpid(), JanusNode._serial)
        self.url = f"http://{self.ns.ns_ip}:{HTTP_PORT}/janus"
        self.client_address = self.ns.host_ip
        # Named after the namespace, so a later harness can tell when it is stale.
        self._dir = Path(tempfile.mkdtemp(prefix=f"{CONFIG_PREFIX}{self.ns.name}-"))
        self._log = log_path.open("wb")
        self.process: subprocess.Popen[bytes] | None = None
        self._netns_made = False
        try:
            for command in netns_commands(self.ns):
                _run(command)
                self._netns_made = True
            self._wait_link_up()
            for name, text in janus_config(
                lib, self.ns, log_path.with_suffix(".janus.log")
            ).items():
                (self._dir / name).write_text(text)
            command = [
                "ip", "netns", "exec", self.ns.name, JANUS_BINARY,
                "-C", str(self._dir / "janus.jcfg"), "-F", str(self._dir), "-o",
                "-i", self.ns.ns_ip,
            ]  # fmt: skip
            self.process = subprocess.Popen(
                dies_with_parent(command),
                cwd=self._dir,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
        except BaseException:
            self.stop()
            raise

    def _wait_link_up(self, timeout: float = 10.0) -> None:
        """Janus reads the interfaces once at start: the veth must have its carrier by then."""
        path = ["ip", "-n", self.ns.name, "-o", "link", "show", "dev", self.ns.ns_if]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            shown = subprocess.run(path, capture_output=True, text=True, timeout=20).stdout
            if "LOWER_UP" in shown and "state UP" in shown:
                return
            time.sleep(0.05)
        raise TimeoutError(f"veth {self.ns.ns_if} did not come up")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError("janus exited (see its log)")
            try:
                with urllib.request.urlopen(f"{self.url}/info", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise TimeoutError(f"janus not answering on {self.url} after {timeout} s")

    def stop(self) -> None:
        try:
            if self.process is not None:
                stop_process(self.process)
        finally:
            if self._netns_made:
                # Deleting the namespace deletes its veth end, and with it the pair.
                _quiet(["ip", "netns", "del", self.ns.name])
                _quiet(["ip", "link", "del", self.ns.host_if])
                self._netns_made = False
            shutil.rmtree(self._dir, ignore_errors=True)
            self._log.close()
