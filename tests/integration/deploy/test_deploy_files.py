"""deploy/ and the configurations docs/deploy.md shows, through the real programs: systemd checks
the unit, nginx the proxy configurations and carries a real match to a real node, nft the
firewall, and coturn, started with the guide's configuration, grants the credentials the node
hands out (and refuses expired ones). The example environment file starts a real node.

Only the machine-specific parts are replaced: the unit's ExecStart becomes this venv's
``liveloop-sfu`` (``systemd-analyze verify`` checks that the binary exists), ports become free
loopback ports, certificate paths a certificate the test makes.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import socketio
from aioice import stun
from aioice.turn import create_turn_endpoint
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from liveloop_sfu.client import WireClient
from liveloop_sfu.rooms.turn import TurnCredentials
from tests.deploy_files import (
    DEPLOY,
    ENV_FILE,
    ROOT,
    UNIT_FILE,
    code_blocks,
    env_assignments,
    unit_values,
)
from tests.nodes import NodeFactory, free_port

pytestmark = pytest.mark.slow

CLI = Path(sys.executable).parent / "liveloop-sfu"
CLUSTERS = ROOT / "docs" / "clusters.md"
LETSENCRYPT = "/etc/letsencrypt/live/live.example.org/"
TURN_SECRET = "coturn-secret-of-the-deploy-test"


def wait_listening(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{what} exited with {process.returncode}"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not listen on {port}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, standing in for certbot's."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


# systemd


def unit_for_this_machine(folder: Path) -> Path:
    """The unit with ExecStart pointing at the liveloop-sfu installed with this test's Python."""
    text = UNIT_FILE.read_text()
    (exec_start,) = unit_values(text)["ExecStart"]
    assert CLI.exists(), f"{CLI}: the console script pip installs"
    folder.mkdir(parents=True, exist_ok=True)
    unit = folder / UNIT_FILE.name
    unit.write_text(text.replace(f"ExecStart={exec_start}\n", f"ExecStart={CLI}\n"))
    return unit


def systemd_analyze(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("systemd-analyze")
    assert binary, "Debian package systemd (scripts/test.sh installs it)"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60)


def test_systemd_verifies_the_unit(tmp_path: Path) -> None:
    unit = unit_for_this_machine(tmp_path / "ok")
    done = systemd_analyze("verify", str(unit))
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
    # The same check speaks up about a misspelled key, so its silence above means something.
    typo = unit_for_this_machine(tmp_path / "typo")
    typo.write_text(typo.read_text().replace("ProtectSystem=", "ProtectSystm="))
    assert "Unknown key" in systemd_analyze("verify", str(typo)).stderr


def test_systemd_rates_the_units_exposure_low(tmp_path: Path) -> None:
    unit = unit_for_this_machine(tmp_path)
    done = systemd_analyze("security", "--offline=true", str(unit))
    level = re.search(r"Overall exposure level for \S+: ([\d.]+)", done.stdout)
    assert level is not None, done.stdout[-800:] + done.stderr
    # systemd's scale: 0 safest, 10 exposed; up to 2 is rated "OK".
    assert float(level.group(1)) <= 2.0, done.stdout


# nginx


def nginx_config(folder: Path, sites: list[str], certificate: tuple[Path, Path]) -> Path:
    """The sites in an ``http`` block of their own, with paths under ``folder``."""
    cert, key = certificate
    body = "\n".join(sites)
    body = body.replace(LETSENCRYPT + "fullchain.pem", str(cert))
    body = body.replace(LETSENCRYPT + "privkey.pem", str(key))
    temp = "\n".join(
        f"    {name}_temp_path {folder / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    config = folder / "nginx.conf"
    config.write_text(
        f"pid {folder / 'nginx.pid'};\nevents {{}}\n"
        f"http {{\n    access_log off;\n{temp}\n{body}\n}}\n"
    )
    return config


def nginx(folder: Path, config: Path, *args: str) -> list[str]:
    binary = shutil.which("nginx")
    assert binary, "Debian package nginx (scripts/test.sh installs it)"
    return [binary, "-e", str(folder / "error.log"), "-p", str(folder), "-c", str(config), *args]


DOCUMENTED_SITES = [
    pytest.param(DEPLOY, 1, id="deploy-http-only"),  # step 4 before the certificate
    pytest.param(DEPLOY, 2, id="deploy-http-and-tls"),
    pytest.param(CLUSTERS, 1, id="clusters"),
]


@pytest.mark.parametrize(("page", "count"), DOCUMENTED_SITES)
def test_nginx_accepts_the_documented_configuration(
    page: Path, count: int, tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    sites = code_blocks(page, "nginx")[:count]
    assert len(sites) == count
    done = subprocess.run(
        nginx(tmp_path, nginx_config(tmp_path, sites, certificate), "-t"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr


def tls_site_on(port: int, node_port: int, without: str = "") -> str:
    """deploy.md's TLS site listening on a loopback port, proxying to a node's port."""
    site = next(block for block in code_blocks(DEPLOY, "nginx") if "listen 443" in block)
    site = re.sub(r"^\s*listen \[::\]:443 .*\n", "", site, flags=re.M)
    site = site.replace("listen 443 ssl", f"listen 127.0.0.1:{port} ssl")
    site = site.replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{node_port};")
    if without:
        site = "\n".join(line for line in site.splitlines() if without not in line)
    return site


@pytest.fixture
def proxy(tmp_path: Path, certificate: tuple[Path, Path]) -> Iterator[Callable[..., str]]:
    """Starts nginx with deploy.md's TLS site in front of a node; stopped at teardown."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(node_port: int, without: str = "") -> str:
        port = free_port()
        folder = tmp_path / f"nginx-{port}"
        folder.mkdir()
        config = nginx_config(folder, [tls_site_on(port, node_port, without)], certificate)
        with (folder / "stdout.log").open("wb") as log:
            process = subprocess.Popen(
                nginx(folder, config, "-g", "daemon off;"), stdout=log, stderr=subprocess.STDOUT
            )
        processes.append(process)
        wait_listening(port, process, "nginx")
        return f"https://127.0.0.1:{port}"

    yield start
    for process in processes:
        stop(process)


async def match_through(url: str) -> list[dict[str, object]]:
    """Two clients that connect like a browser on that page (its Origin) and ask for a call."""
    clients = [WireClient(url, ssl_verify=False) for _ in range(2)]
    try:
        for client in clients:
            await client.connect(headers={"Origin": url})
        for name, client in zip(("ada", "bob"), clients, strict=True):
            await client.request_room(name)
        return [await client.next("match-done") for client in clients]
    finally:
        for client in clients:
            await client.close()


def fetch(url: str) -> int:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


async def test_a_match_through_the_documented_nginx(
    node_factory: NodeFactory, proxy: Callable[..., str]
) -> None:
    node = node_factory("--mode", "p2p", "--trusted-proxies", "127.0.0.1")
    url = proxy(node.port)
    matched = await match_through(url)
    assert [done["mode"] for done in matched] == ["p2p", "p2p"]
    assert matched[0]["roomId"] == matched[1]["roomId"]
    assert await asyncio.to_thread(fetch, url + "/") == 200
    # /metrics stays on the node's own port, as the guide says.
    assert await asyncio.to_thread(fetch, url + "/metrics") == 403
    # The guide's reason for X-Forwarded-Proto: without it socket.io refuses the https Origin.
    bare = proxy(node.port, without="X-Forwarded-Proto")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await match_through(bare)


# nftables


def test_nft_accepts_the_firewall(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("nft -c needs CAP_NET_ADMIN (CI runs as root)")
    binary = shutil.which("nft")
    assert binary, "Debian package nftables (scripts/test.sh installs it)"
    (rules,) = code_blocks(DEPLOY, "nft")
    good, bad = tmp_path / "nftables.conf", tmp_path / "typo.conf"
    good.write_text(rules)
    bad.write_text(rules.replace("udp dport 3478", "udp dprt 3478"))

    def check(path: Path) -> subprocess.CompletedProcess[str]:
        # A network namespace of its own: nothing can touch this machine's ruleset.
        command = ["unshare", "--net", binary, "-c", "-f", str(path)]
        return subprocess.run(command, capture_output=True, text=True, timeout=30)

    assert check(good).returncode == 0, check(good).stderr
    assert check(bad).returncode != 0


# coturn


def with_values(config: str, values: dict[str, str]) -> str:
    """coturn's configuration with these keys' values replaced (or added)."""
    lines, seen = [], set()
    for line in config.splitlines():
        key = line.split("=", 1)[0].strip()
        if key in values and not line.lstrip().startswith("#"):
            lines.append(f"{key}={values[key]}" if values[key] else key)
            seen.add(key)
        else:
            lines.append(line)
    added = {key: value for key, value in values.items() if key not in seen}
    lines += [f"{key}={value}" if value else key for key, value in added.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def coturn(tmp_path: Path, certificate: tuple[Path, Path]) -> Iterator[dict[str, str]]:
    binary = shutil.which("turnserver")
    assert binary, "Debian package coturn (scripts/test.sh installs it)"
    (documented,) = code_blocks(DEPLOY, "coturn")
    relay = free_port()
    cert, key = certificate
    values = {
        "listening-port": str(free_port()),
        "tls-listening-port": str(free_port()),
        "min-port": str(relay),
        "max-port": str(relay + 20),
        "cert": str(cert),
        "pkey": str(key),
        "static-auth-secret": TURN_SECRET,
        # Loopback only, files in the test's folder.
        "listening-ip": "127.0.0.1",
        "relay-ip": "127.0.0.1",
        "pidfile": str(tmp_path / "turn.pid"),
        "userdb": str(tmp_path / "turndb"),
        "log-file": "stdout",
        "simple-log": "",
    }
    config = tmp_path / "turnserver.conf"
    config.write_text(with_values(documented, values))
    log = (tmp_path / "turn.log").open("wb")
    process = subprocess.Popen([binary, "-c", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_listening(int(values["tls-listening-port"]), process, "turnserver")
        yield values
    finally:
        stop(process)
        log.close()


async def allocate(server: tuple[str, int], ice_server: dict[str, object], tls: bool) -> int:
    """A TURN allocation with an RTCIceServer's credential: the relayed port."""
    context = None
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    transport, _ = await create_turn_endpoint(
        asyncio.DatagramProtocol,
        server,
        str(ice_server["username"]),
        str(ice_server["credential"]),
        ssl=context,
        transport="tcp" if tls else "udp",
    )
    try:
        return int(transport.get_extra_info("sockname")[1])
    finally:
        transport.close()


async def test_coturn_grants_the_credentials_the_node_hands_out(coturn: dict[str, str]) -> None:
    env = env_assignments(ENV_FILE.read_text())
    assert "LIVELOOP_TURN_SECRET" not in env  # appended by the operator (deploy.md, step 5)
    credentials = TurnCredentials(("turn:127.0.0.1",), TURN_SECRET, ttl=600)
    now = time.time()
    relays = range(int(coturn["min-port"]), int(coturn["max-port"]) + 1)
    udp = ("127.0.0.1", int(coturn["listening-port"]))
    tls = ("127.0.0.1", int(coturn["tls-listening-port"]))
    assert await allocate(udp, credentials.ice_server("participant-1", now), tls=False) in relays
    assert await allocate(tls, credentials.ice_server("participant-2", now), tls=True) in relays
    # use-auth-secret really checks: an expired credential, or another secret's, is refused.
    expired = credentials.ice_server("participant-3", now - 1200)
    with pytest.raises((stun.TransactionFailed, ConnectionError)):
        await allocate(udp, expired, tls=False)
    other = TurnCredentials(("turn:127.0.0.1",), "another-secret-entirely", ttl=600)
    with pytest.raises((stun.TransactionFailed, ConnectionError)):
        await allocate(udp, other.ice_server("participant-4", now), tls=False)


# The environment file on a real node


def test_the_example_environment_starts_a_node(node_factory: NodeFactory, tmp_path: Path) -> None:
    env = env_assignments(ENV_FILE.read_text())
    # This machine's addresses and folders instead of the example server's.
    env["LIVELOOP_MEDIA_ADDRESSES"] = "127.0.0.1"
    env["LIVELOOP_RECORDINGS_DIR"] = str(tmp_path / "recordings")
    node = node_factory(env=env)
    with urllib.request.urlopen(node.url + "/health", timeout=5) as response:
        assert b'"status": "ok"' in response.read()
    with urllib.request.urlopen(node.url + "/metrics", timeout=5) as response:
        exported = set(re.findall(r"^# TYPE (liveloop_\w+)", response.read().decode(), re.M))
    # Every metric the docs name is one the node exports.
    named = {
        name
        for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
        for name in re.findall(r"\bliveloop_[a-z_]+[a-z]\b", page.read_text())
        if not name.startswith("liveloop_sfu")
    }
    assert named and named <= exported, named - exported
