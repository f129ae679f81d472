"""Token buckets and the node's abuse limits, with time as a parameter."""

from __future__ import annotations

import pytest

from liveloop_sfu.config import load_settings
from liveloop_sfu.errors import ConfigError, InvalidPayload, RateLimited
from liveloop_sfu.signal.limits import (
    Limiter,
    LimitSettings,
    Rate,
    TokenBucket,
    Verdict,
    client_ip,
    count_media_sections,
    event_class,
    parse_rate,
)

ONE_PER_SECOND = Rate(1, 3)


@pytest.mark.parametrize(
    ("takes", "expected"),
    [
        # (now, granted?) starting from a full bucket of 3 at t=0, refilling 1/s.
        ([(0.0, True), (0.0, True), (0.0, True), (0.0, False)], 0.0),
        ([(0.0, True), (0.0, True), (0.0, True), (0.5, False), (1.0, True), (1.0, False)], 0.0),
        ([(0.0, True), (100.0, True), (100.0, True), (100.0, True), (100.0, False)], 0.0),
        # A clock going backwards refills nothing and does not break the bucket.
        ([(5.0, True), (5.0, True), (5.0, True), (1.0, False), (6.0, True)], 0.0),
    ],
)
def test_token_bucket(takes: list[tuple[float, bool]], expected: float) -> None:
    bucket = TokenBucket.full(ONE_PER_SECOND, 0.0)
    for now, granted in takes:
        assert bucket.take(now) is granted, (now, granted)
    assert bucket.tokens == pytest.approx(expected)


@pytest.mark.parametrize(
    ("event", "cls"),
    [
        ("newMessage", "chat"),
        ("request-room", "churn"),
        ("stop-call", "churn"),
        ("join-room", "churn"),
        ("leave-room", "churn"),
        ("negotiation-call-offer", "signaling"),
        ("send-new-ice-candidates", "signaling"),
        ("media-state", "other"),  # an event added later is limited by default
        ("no-such-event", "other"),
    ],
)
def test_every_event_has_a_class(event: str, cls: str) -> None:
    assert event_class(event) == cls


def limiter(**overrides: object) -> Limiter:
    base = {
        "chat": Rate(1, 2),
        "ip_multiplier": 2.0,
        "strikes": Rate(1, 3),
        "max_connections_per_ip": 3,
    }
    return Limiter(LimitSettings(**{**base, **overrides}))  # type: ignore[arg-type]


def test_a_flooding_connection_is_refused_then_disconnected() -> None:
    limits = limiter()
    limits.open("a", "198.51.100.1", 0.0)
    verdicts = [limits.check("a", "newMessage", 0.0) for _ in range(7)]
    # Burst of 2, then 3 strikes refused, then the 4th refusal disconnects.
    assert verdicts == [Verdict.ALLOW] * 2 + [Verdict.REFUSE] * 3 + [Verdict.DISCONNECT] * 2
    assert limits.refused["chat"] == 5 and limits.disconnected == 2
    # Other classes have their own buckets.
    assert limits.check("a", "request-room", 0.0) is Verdict.ALLOW
    # Time refills both the bucket and the strikes.
    assert limits.check("a", "newMessage", 10.0) is Verdict.ALLOW


def test_the_address_budget_is_shared_by_its_connections() -> None:
    limits = limiter()
    for conn in ("a", "b", "c"):
        limits.open(conn, "198.51.100.1", 0.0)
    limits.open("d", "203.0.113.9", 0.0)
    # Per IP: 2 x burst 2 = 4 chat messages; each connection alone may send 2.
    granted = [limits.check(conn, "newMessage", 0.0) for conn in ("a", "a", "b", "b", "c")]
    assert granted == [Verdict.ALLOW] * 4 + [Verdict.REFUSE]
    # Another address is unaffected.
    assert limits.check("d", "newMessage", 0.0) is Verdict.ALLOW


def test_a_refused_event_does_not_spend_the_shared_budget() -> None:
    limits = limiter(ip_multiplier=1.5)  # per IP: burst 3
    limits.open("a", "198.51.100.1", 0.0)
    limits.open("b", "198.51.100.1", 0.0)
    assert [limits.check("a", "newMessage", 0.0) for _ in range(4)] == [Verdict.ALLOW] * 2 + [
        Verdict.REFUSE
    ] * 2
    assert limits.check("b", "newMessage", 0.0) is Verdict.ALLOW


def test_connections_per_address_are_capped_and_released() -> None:
    limits = limiter()
    for conn in ("a", "b", "c"):
        limits.open(conn, "198.51.100.1", 0.0)
    with pytest.raises(RateLimited):
        limits.open("d", "198.51.100.1", 0.0)
    assert limits.refused["connection"] == 1
    limits.open("e", "203.0.113.9", 0.0)  # other addresses are not affected
    limits.close("a")
    limits.close("a")  # idempotent
    limits.open("d", "198.51.100.1", 0.0)
    assert limits.connections("198.51.100.1") == 3


def test_unknown_connection_is_refused() -> None:
    assert limiter().check("ghost", "newMessage", 0.0) is Verdict.REFUSE


def test_candidates_are_capped_per_call() -> None:
    limits = limiter(max_candidates_per_call=2)
    limits.open("a", "198.51.100.1", 0.0)
    limits.count_candidate("a", "room-1")
    limits.count_candidate("a", "room-1")
    with pytest.raises(RateLimited):
        limits.count_candidate("a", "room-1")
    limits.count_candidate("a", "room-2")  # a new call starts a new count


def test_media_sections_are_capped() -> None:
    limits = limiter(max_media_sections=2)
    two = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
    assert count_media_sections(two) == 2
    limits.check_sdp(two)
    with pytest.raises(InvalidPayload, match="at most 2 media sections"):
        limits.check_sdp(two + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n")


def test_full_buckets_are_forgotten() -> None:
    limits = limiter()
    limits.open("a", "198.51.100.1", 0.0)
    limits.check("a", "newMessage", 0.0)
    limits.close("a")
    limits.prune(0.0)
    assert limits.tracked_ips() == 1  # still draining its budget
    limits.prune(60.0)
    assert limits.tracked_ips() == 0


@pytest.mark.parametrize(
    ("peer", "header", "trusted", "expected"),
    [
        ("198.51.100.1", None, (), "198.51.100.1"),
        # Not from a trusted proxy: the header is the client's own claim and is ignored.
        ("198.51.100.1", "203.0.113.5", (), "198.51.100.1"),
        ("198.51.100.1", "203.0.113.5", ("10.0.0.0/8",), "198.51.100.1"),
        ("10.0.0.2", "203.0.113.5", ("10.0.0.0/8",), "203.0.113.5"),
        # The left-most entries are written by the client: take the right-most untrusted one.
        ("10.0.0.2", "1.2.3.4, 203.0.113.5", ("10.0.0.0/8",), "203.0.113.5"),
        ("10.0.0.2", "203.0.113.5, 10.0.0.9", ("10.0.0.0/8",), "203.0.113.5"),
        ("10.0.0.2", "10.0.0.7", ("10.0.0.0/8",), "10.0.0.7"),
        ("10.0.0.2", "garbage", ("10.0.0.0/8",), "10.0.0.2"),
        ("::ffff:198.51.100.1", None, (), "198.51.100.1"),
        ("127.0.0.1", "2001:db8::1", ("127.0.0.1",), "2001:db8::1"),
        (None, None, (), "unknown"),
    ],
)
def test_client_address(
    peer: str | None, header: str | None, trusted: tuple[str, ...], expected: str
) -> None:
    assert client_ip(peer, header, trusted) == expected


def test_limit_flags_and_environment() -> None:
    settings = load_settings(
        ["--rate-chat", "3/12", "--max-connections-per-ip", "7", "--trusted-proxies", "10.0.0.1"],
        {"LIVELOOP_RATE_SIGNALING": "40/200", "LIVELOOP_MAX_MEDIA_SECTIONS": "8"},
    )
    assert settings.limits.chat == Rate(3, 12)
    assert settings.limits.signaling == Rate(40, 200)
    assert settings.limits.max_connections_per_ip == 7
    assert settings.limits.max_media_sections == 8
    assert settings.network.trusted_proxies == ("10.0.0.1/32",)
    assert load_settings([], {}).limits == LimitSettings()


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--rate-chat", "fast"], "RATE/BURST"),
        (["--rate-chat", "0/5"], "RATE/BURST"),
        (["--rate-ip-multiplier", "0.5"], "at least 1"),
        (["--max-connections-per-ip", "0"], "between"),
        (["--trusted-proxies", "proxy.example"], "trusted-proxies"),
    ],
)
def test_bad_limits_are_reported(argv: list[str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_settings(argv, {})


def test_parse_rate_without_burst() -> None:
    assert parse_rate("5", "--rate-other") == Rate(5, 5)


def test_new_connections_per_address_are_rate_limited() -> None:
    limits = limiter(connect=Rate(1, 2), max_connections_per_ip=100)
    limits.open("a", "198.51.100.1", 0.0)
    limits.close("a")
    limits.open("b", "198.51.100.1", 0.0)
    limits.close("b")
    # Few are open, but two were opened within the burst: the third waits for a token.
    with pytest.raises(RateLimited):
        limits.open("c", "198.51.100.1", 0.5)
    assert limits.refused["connection-rate"] == 1
    limits.open("x", "203.0.113.9", 0.5)  # other addresses have their own bucket
    limits.open("c", "198.51.100.1", 1.0)  # refilled at 1/s
    assert limits.connections("198.51.100.1") == 1
    limits.close("c")
    limits.close("x")
    limits.prune(10.0)
    assert limits.tracked_ips() == 0
    assert load_settings(["--rate-connect", "5/50"], {}).limits.connect == Rate(5, 50)
