"""The network lab itself (tests/lab): namespaces come and go, the NATs and the firewall behave
as their names say (checked with UDP probes from inside the networks), rate limits and loss hold
when measured with real transfers, and Chromium runs inside a lab network.

Needs root (CI runs as root), ``iproute2`` and ``nftables``.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aioice import stun

from tests.lab import Lab, Network, lab_namespaces, lab_network, netns

pytestmark = pytest.mark.slow

ECHO_PORTS = (4001, 4002)
STRANGER_PORT = 4003
SO_RCVBUFFORCE = 33  # <asm-generic/socket.h>; Python does not name it


def udp_echo(server: Network, port: int) -> socket.socket:
    """A UDP socket on the public host; ``serve_once`` answers with what it saw."""
    family = socket.AF_INET6 if server.ipv4 is None else socket.AF_INET
    sock = server.socket(family)
    sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", port))
    sock.settimeout(5)
    return sock


def serve_once(sock: socket.socket) -> tuple[str, int]:
    """Receives one probe and answers with the source address and port it came from."""
    _, source = sock.recvfrom(2048)
    sock.sendto(json.dumps([source[0], source[1]]).encode(), source)
    return source[0], source[1]


def probe(client: socket.socket, address: str, port: int, echo: socket.socket) -> tuple[str, int]:
    """The client sends to the echo server; returns the source the server saw (and checks the
    answer got back through the NAT)."""
    client.sendto(b"probe", (address, port))
    seen = serve_once(echo)
    answer, _ = client.recvfrom(2048)
    assert tuple(json.loads(answer)) == seen
    return seen


def client_socket(net: Network) -> socket.socket:
    sock = net.socket(socket.AF_INET)
    sock.bind(("0.0.0.0", 0))
    sock.settimeout(5)
    return sock


async def test_namespaces_exist_then_are_removed(tmp_path: Path) -> None:
    async with lab_network(tmp_path) as lab:
        nets = [lab.browser_net(kind) for kind in ("cone_nat", "symmetric_nat", "udp_blocked")]
        nets += [lab.browser_net("ipv6_only"), lab.public("server")]
        present = set(netns.list_namespaces())
        for net in nets:
            assert {net.namespace, net.edge} <= present
        assert lab.router in present
        # Nothing routes beyond the lab: the router has no default route, and every route it
        # has goes out of one of its own links.
        for family in ("-4", "-6"):
            routes = netns.ns_run(lab.router, "ip", family, "route", "show")
            assert "default" not in routes
            assert all(" dev l" in line for line in routes.splitlines()), routes
    assert lab_namespaces() == []


async def fail_inside_a_lab(workdir: Path, started: list[int]) -> None:
    async with lab_network(workdir) as lab:
        net = lab.browser_net("cone_nat")
        started.append(net.popen(["sleep", "600"]).pid)
        raise RuntimeError("a test failing on purpose inside the lab")


async def test_a_failure_inside_the_lab_still_removes_everything(tmp_path: Path) -> None:
    started: list[int] = []
    with pytest.raises(RuntimeError, match="on purpose"):
        await fail_inside_a_lab(tmp_path, started)
    assert lab_namespaces() == []
    with pytest.raises(ProcessLookupError):  # the process the lab started is gone too
        os.kill(started[0], 0)


async def test_cone_nat_keeps_the_port_and_filters_by_address_and_port(lab: Lab) -> None:
    server = lab.public("server")
    assert server.ipv4 is not None
    echoes = [udp_echo(server, port) for port in ECHO_PORTS]
    stranger = udp_echo(server, STRANGER_PORT)
    net = lab.browser_net("cone_nat")
    client = client_socket(net)
    local_port = client.getsockname()[1]

    seen = [
        probe(client, server.ipv4, port, echo)
        for port, echo in zip(ECHO_PORTS, echoes, strict=True)
    ]
    # Endpoint-independent mapping with port preservation: one public address and port, the
    # socket's own port, whichever destination.
    assert seen == [(net.public_ipv4, local_port)] * 2
    assert net.ipv4 != net.public_ipv4  # the NAT really translated

    # Filtering: a host the socket never sent to cannot get in; the one it did can. The
    # stranger's datagram goes first, so had it passed it would arrive first.
    stranger.sendto(b"stranger", seen[0])
    echoes[0].sendto(b"known", seen[0])
    assert client.recvfrom(2048)[0] == b"known"


async def test_symmetric_nat_maps_each_destination_to_a_new_port(lab: Lab) -> None:
    server = lab.public("server")
    assert server.ipv4 is not None
    echoes = [udp_echo(server, port) for port in ECHO_PORTS]
    net = lab.browser_net("symmetric_nat")
    client = client_socket(net)

    first, second = (
        probe(client, server.ipv4, p, e) for p, e in zip(ECHO_PORTS, echoes, strict=True)
    )
    assert first[0] == second[0] == net.public_ipv4
    assert first[1] != second[1]  # the same socket, a different mapping per destination
    # What the first server learnt is useless to the second one: its datagram is filtered.
    echoes[1].sendto(b"from the other server", first)
    echoes[0].sendto(b"known", first)
    assert client.recvfrom(2048)[0] == b"known"


async def test_firewall_lets_only_tcp_443_out(lab: Lab) -> None:
    server = lab.public("server")
    assert server.ipv4 is not None
    echo = udp_echo(server, ECHO_PORTS[0])
    echo.setblocking(False)
    web = server.socket(socket.AF_INET, socket.SOCK_STREAM)
    web.bind(("0.0.0.0", 443))
    web.listen()
    other = server.socket(socket.AF_INET, socket.SOCK_STREAM)
    other.bind(("0.0.0.0", 8443))
    other.listen()
    net = lab.browser_net("udp_blocked")

    client = client_socket(net)
    client.sendto(b"udp", (server.ipv4, ECHO_PORTS[0]))
    https = net.socket(socket.AF_INET, socket.SOCK_STREAM)
    https.settimeout(5)
    https.connect((server.ipv4, 443))  # passes
    https.sendall(b"marker")
    accepted, source = web.accept()
    with accepted:
        assert accepted.recv(16) == b"marker"
    assert source[0] == net.ipv4  # a firewall, not a NAT
    with pytest.raises(BlockingIOError):  # the UDP datagram, sent first, never arrived
        echo.recvfrom(2048)
    blocked = net.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocked.settimeout(1.0)
    with pytest.raises(TimeoutError):  # TCP to another port: dropped, no answer at all
        blocked.connect((server.ipv4, 8443))


async def test_ipv6_only_network_reaches_the_public_host_over_ipv6(lab: Lab) -> None:
    server = lab.public("server")
    net = lab.browser_net("ipv6_only")
    assert net.ipv4 is None and net.ipv6 is not None
    assert "inet " not in netns.ns_run(net.namespace, "ip", "-4", "addr", "show", "dev", "eth0")
    echo6 = server.socket(socket.AF_INET6)
    echo6.bind(("::", ECHO_PORTS[1]))
    echo6.settimeout(5)
    client = net.socket(socket.AF_INET6)
    client.bind(("::", 0))
    client.settimeout(5)
    assert server.ipv6 is not None
    seen = probe(client, server.ipv6, ECHO_PORTS[1], echo6)
    assert seen[0] == net.ipv6  # no NAT on IPv6


def tcp_rate_kbps(browser: Network, server: Network, *, down: bool) -> float:
    """The browser connects to the server (it is behind a NAT) and one side sends as fast as TCP
    allows: the server when ``down``, the browser otherwise. Returns the rate the receiver got,
    in kbit/s, over a window that starts once the first second (slow start, the token bucket's
    initial burst) has passed."""
    assert server.ipv4 is not None
    listener = server.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((server.ipv4, 0))
    listener.listen()
    client = browser.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.connect((server.ipv4, listener.getsockname()[1]))
    accepted, _ = listener.accept()
    sender, receiver = (accepted, client) if down else (client, accepted)
    marks: list[tuple[float, int]] = []

    def receive() -> None:
        total = 0
        while chunk := receiver.recv(65536):
            total += len(chunk)
            marks.append((time.monotonic(), total))

    reader = threading.Thread(target=receive)
    reader.start()
    payload = b"x" * 16384
    started = time.monotonic()
    with accepted:
        while time.monotonic() - started < 2.5:
            sender.sendall(payload)
        sender.shutdown(socket.SHUT_WR)
        reader.join(timeout=30)
    first = marks[0][0]
    window = [(t, n) for t, n in marks if first + 1.0 <= t]
    (t0, n0), (t1, n1) = window[0], window[-1]
    return (n1 - n0) * 8 / (t1 - t0) / 1000


async def test_shaping_limits_each_direction_to_the_asked_rate(lab: Lab) -> None:
    server = lab.public("server")
    net = lab.browser_net("cone_nat")

    unshaped = tcp_rate_kbps(net, server, down=True)
    net.shape(down_kbps=500)
    shaped_down = tcp_rate_kbps(net, server, down=True)
    net.shape(up_kbps=600)
    shaped_up = tcp_rate_kbps(net, server, down=False)
    net.unshape()
    lifted = tcp_rate_kbps(net, server, down=True)
    print(f"kbps unshaped {unshaped:.0f}, down 500 → {shaped_down:.0f}, up 600 → {shaped_up:.0f}"
          f", lifted {lifted:.0f}")  # fmt: skip
    assert 0.8 * 500 <= shaped_down <= 1.1 * 500
    assert 0.8 * 600 <= shaped_up <= 1.1 * 600
    assert unshaped > 10 * 600 and lifted > 10 * 600


async def test_random_loss_drops_about_the_asked_share(lab: Lab) -> None:
    server = lab.public("server")
    assert server.ipv4 is not None
    echo = udp_echo(server, ECHO_PORTS[0])
    # Room for every datagram of a burst (root may exceed net.core.rmem_max).
    echo.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
    net = lab.browser_net("cone_nat")
    client = client_socket(net)

    def delivered(count: int) -> int:
        for i in range(count):
            client.sendto(i.to_bytes(4, "big"), (server.ipv4 or "", ECHO_PORTS[0]))
        client.sendto(b"end", (server.ipv4 or "", ECHO_PORTS[0]))
        got = 0
        while True:
            data, _ = echo.recvfrom(64)
            if data == b"end":
                return got
            got += 1

    net.set_loss(up_percent=20)
    # "end" itself may be lost: resend it until it arrives (loss is per packet).
    echo.settimeout(0.5)
    lossy = _with_retry(lambda: delivered(2000))
    net.set_loss()
    clean = delivered(2000)
    print(f"delivered with 20 % loss: {lossy}/2000, without: {clean}/2000")
    assert clean == 2000
    assert 0.74 * 2000 <= lossy <= 0.86 * 2000


def _with_retry(measure: Callable[[], int]) -> int:
    for _ in range(5):
        try:
            return measure()
        except TimeoutError:
            continue
    raise AssertionError("the end marker never got through")


def stun_binding(client: socket.socket, address: tuple[str, int]) -> tuple[str, int]:
    """RFC 8489 Binding request; returns the XOR-MAPPED-ADDRESS the server saw."""
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    client.sendto(bytes(request), address)
    response = stun.parse_message(client.recvfrom(2048)[0])
    assert response.transaction_id == request.transaction_id
    mapped: tuple[str, int] = response.attributes["XOR-MAPPED-ADDRESS"]
    return mapped


async def test_coturn_answers_over_udp_tcp_and_tls(lab: Lab) -> None:
    turn = lab.coturn()
    assert turn.network.ipv4 is not None
    cone = lab.browser_net("cone_nat")
    client = client_socket(cone)
    # UDP 3478, through the NAT: the server sees the NAT's address and the preserved port.
    assert stun_binding(client, (turn.network.ipv4, 3478)) == (
        cone.public_ipv4,
        client.getsockname()[1],
    )
    # TLS on 443 from behind the web-only firewall, verified against the test's CA.
    firewalled = lab.browser_net("udp_blocked")
    context = ssl.create_default_context(cafile=str(turn.certificate.ca_cert))
    raw = firewalled.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.settimeout(5)
    raw.connect((turn.network.ipv4, 443))
    with context.wrap_socket(raw, server_hostname=turn.network.ipv4) as tls:
        assert tls.version() is not None
    # Plain TCP on 3478 and on 443 both speak STUN (unframed over TCP, RFC 8489 §6.2.2).
    for port in (3478, 443):
        plain = cone.socket(socket.AF_INET, socket.SOCK_STREAM)
        plain.settimeout(5)
        plain.connect((turn.network.ipv4, port))
        request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
        plain.sendall(bytes(request))
        response = stun.parse_message(plain.recv(2048))
        assert response.attributes["XOR-MAPPED-ADDRESS"][0] == cone.public_ipv4
