"""Telling an ICE restart offer from an ordinary re-offer (RFC 8839 §4.4.1.1.1), as tables."""

from __future__ import annotations

import pytest

from liveloop_sfu.media.sfu.ice_restart import ice_credentials, is_ice_restart


def offer(ufrag: str | None, pwd: str | None, *, session_level: bool = False) -> str:
    """A bundled audio+video offer carrying the credentials on each m-line (browsers) or once at
    session level."""
    creds = [f"a=ice-ufrag:{ufrag}"] if ufrag else []
    creds += [f"a=ice-pwd:{pwd}"] if pwd else []
    head = ["v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0 1"]
    if session_level:
        head += creds
    lines = list(head)
    for mid, kind in (("0", "audio"), ("1", "video")):
        lines += [f"m={kind} 9 UDP/TLS/RTP/SAVPF 96", "c=IN IP4 0.0.0.0", f"a=mid:{mid}"]
        if not session_level:
            lines += creds
    return "\r\n".join(lines) + "\r\n"


@pytest.mark.parametrize(
    ("sdp", "expected"),
    [
        (offer("abcd", "p" * 24), ("abcd", "p" * 24)),
        (offer("abcd", "p" * 24, session_level=True), ("abcd", "p" * 24)),
        (offer("abcd", None), None),
        (offer(None, "p" * 24), None),
        ("", None),
        # The first m-line's own values win over the session's (RFC 8839 §5.4).
        (
            offer("media", "m" * 24).replace("t=0 0", "t=0 0\r\na=ice-ufrag:sess"),
            ("media", "m" * 24),
        ),
    ],
)
def test_credentials_of_the_bundle_transport(sdp: str, expected: tuple[str, str] | None) -> None:
    assert ice_credentials(sdp) == expected


@pytest.mark.parametrize(
    ("current", "new", "restart"),
    [
        # No session yet: a first offer restarts nothing.
        (None, offer("abcd", "p" * 24), False),
        # The same credentials: renegotiation (a screen share, a group room change).
        (offer("abcd", "p" * 24), offer("abcd", "p" * 24), False),
        # restartIce(), or a new RTCPeerConnection: both change.
        (offer("abcd", "p" * 24), offer("wxyz", "q" * 24), True),
        # Either one changing is a restart (as libwebrtc's IceCredentialsChanged).
        (offer("abcd", "p" * 24), offer("wxyz", "p" * 24), True),
        (offer("abcd", "p" * 24), offer("abcd", "q" * 24), True),
        # Moving the same values between session and media level changes nothing.
        (offer("abcd", "p" * 24), offer("abcd", "p" * 24, session_level=True), False),
        # Without credentials it is not an offer the node would take anyway: no restart.
        (offer("abcd", "p" * 24), offer(None, None), False),
    ],
)
def test_is_ice_restart(current: str | None, new: str, restart: bool) -> None:
    assert is_ice_restart(current, new) is restart
