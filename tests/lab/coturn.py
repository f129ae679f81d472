"""A real coturn (Debian ``turnserver``) in a lab network: UDP and TCP on 3478, TCP and TLS on
443 (coturn tells TLS from plain TCP on each of its ports), with a certificate the test makes.

The certificate: ``openssl`` makes a throw-away CA and a server certificate for the TURN
server's lab addresses (subjectAltName IP entries). How Chromium treats it is checked by
``tests/integration/network/test_lab.py`` and described in ``tests/lab/README.md``.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.lab import netns
from tests.lab.topology import Network

SECRET = "lab-coturn-shared-secret"
REALM = "lab.liveloop.test"


@dataclass
class TestCertificate:
    ca_cert: Path
    cert: Path
    key: Path


def make_certificate(directory: Path, addresses: list[str]) -> TestCertificate:
    """A CA and a server certificate signed by it, valid for ``addresses`` (IP SANs)."""
    ca_key, ca_cert = directory / "ca.key", directory / "ca.pem"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.pem"
    san = ",".join(f"IP:{address}" for address in addresses)
    netns.run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
              "-subj", "/CN=Live Loop lab test CA", "-keyout", str(ca_key), "-out", str(ca_cert),
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    netns.run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=turn.lab",
              "-keyout", str(key), "-out", str(csr))  # fmt: skip
    extensions = directory / "server.ext"
    extensions.write_text(
        f"subjectAltName={san}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
    )
    netns.run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_cert),
              "-CAkey", str(ca_key), "-CAcreateserial", "-days", "2", "-out", str(cert),
              "-extfile", str(extensions))  # fmt: skip
    return TestCertificate(ca_cert=ca_cert, cert=cert, key=key)


@dataclass
class Coturn:
    network: Network
    process: subprocess.Popen[bytes]
    certificate: TestCertificate
    log_path: Path
    secret: str = SECRET

    def urls(self, *transports: str) -> list[str]:
        """TURN URLs over the given transports: ``udp`` (3478), ``tcp`` (443), ``tls`` (TLS on
        443, what a web-only firewall lets through), ``tcp3478``. Default: the first three.
        Each for the IPv4 address and the IPv6 one (for IPv6-only browsers)."""
        chosen = transports or ("udp", "tcp", "tls")
        hosts = [self.network.ipv4]
        if self.network.ipv6:
            hosts.append(f"[{self.network.ipv6}]")
        forms = {
            "udp": "turn:{}:3478?transport=udp",
            "tcp": "turn:{}:443?transport=tcp",
            "tls": "turns:{}:443?transport=tcp",
            "tcp3478": "turn:{}:3478?transport=tcp",
        }
        return [forms[t].format(host) for t in chosen for host in hosts if host]

    def node_flags(self, *transports: str) -> list[str]:
        """The node's flags that hand these URLs to browsers with TURN REST credentials."""
        return ["--turn-urls", ",".join(self.urls(*transports)), "--turn-secret", self.secret]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_coturn(network: Network) -> Coturn:
    addresses = [a for a in (network.ipv4, network.ipv6) if a]
    certificate = make_certificate(network.workdir, addresses)
    log_path = network.workdir / "turnserver.log"
    argv = [
        "turnserver",
        "-n",  # no configuration file: everything is on this line
        *(f"--listening-ip={address}" for address in addresses),
        *(f"--relay-ip={address}" for address in addresses),
        "--listening-port=3478",
        # TLS (and plain TCP: coturn accepts both on its TLS port) on 443, where a
        # web-only firewall lets it through.
        "--tls-listening-port=443",
        f"--cert={certificate.cert}",
        f"--pkey={certificate.key}",
        "--use-auth-secret",
        f"--static-auth-secret={SECRET}",
        f"--realm={REALM}",
        "--fingerprint",
        "--no-dtls",
        "--no-cli",
        "--no-multicast-peers",
        f"--userdb={network.workdir / 'turndb'}",
        f"--pidfile={network.workdir / 'turnserver.pid'}",
        "--log-file=stdout",
        "--simple-log",
    ]
    with log_path.open("wb") as log:
        process = network.popen(argv, log)
    turn = Coturn(network, process, certificate, log_path)
    _wait_listening(turn)
    return turn


def _wait_listening(turn: Coturn) -> None:
    deadline = time.monotonic() + 15
    address = turn.network.ipv4 or turn.network.ipv6
    assert address is not None
    family = socket.AF_INET6 if ":" in address else socket.AF_INET

    def both_ports_open() -> bool:
        for port in (3478, 443):
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                if probe.connect_ex((address, port)) != 0:
                    return False
        return True

    while time.monotonic() < deadline:
        if turn.process.poll() is not None:
            raise RuntimeError(f"turnserver exited:\n{turn.log()}")
        if netns.call_in(turn.network.namespace, both_ports_open):
            return
        time.sleep(0.1)
    raise TimeoutError(f"turnserver did not listen:\n{turn.log()}")
