"""Is a browser's new offer an ICE restart? (pure: two SDP strings in, a decision out)

RFC 8445 §9: an agent restarts ICE by changing its username fragment and password; RFC 8839
§4.4.1.1.1 carries that in SDP as new ``a=ice-ufrag`` / ``a=ice-pwd`` values in an offer for an
existing session, and an answerer seeing *either* of them change treats the offer as a restart
(libwebrtc's ``IceCredentialsChanged`` does the same). A browser does this after
``RTCPeerConnection.restartIce()``; a browser that built a new RTCPeerConnection offers new
credentials as well, so both look the same here.

aiortc 1.16 cannot restart ICE on an existing connection: its ``RTCIceTransport.start`` runs
once, so a second offer's credentials are ignored and the answer repeats the old ones. The node
therefore answers a restart with a fresh connection (media/sfu/peers.py, ``PeerLifecycle.restart``).

Every m-line of the node's sessions is in one BUNDLE group (media/transport/peer.py
``_check_offer``), so the credentials of the first m-line are those of the one transport.
Media-level attributes override session-level ones (RFC 8839 §5.4).
"""

from __future__ import annotations

__all__ = ["ice_credentials", "is_ice_restart"]


def _attribute(lines: list[str], name: str) -> str | None:
    prefix = f"a={name}:"
    for line in lines:
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    return None


def ice_credentials(sdp: str) -> tuple[str, str] | None:
    """(ice-ufrag, ice-pwd) of the first m-line (session-level values where it has none);
    None when either is missing."""
    session: list[str] = []
    first_media: list[str] | None = None
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            if first_media is not None:
                break
            first_media = []
        elif first_media is not None:
            first_media.append(line)
        else:
            session.append(line)
    media = first_media or []
    ufrag = _attribute(media, "ice-ufrag") or _attribute(session, "ice-ufrag")
    pwd = _attribute(media, "ice-pwd") or _attribute(session, "ice-pwd")
    if not ufrag or not pwd:
        return None
    return ufrag, pwd


def is_ice_restart(current: str | None, offer: str) -> bool:
    """True when ``offer`` changes the ICE credentials of the session whose remote description
    is ``current`` (None: no session yet, so nothing to restart)."""
    if current is None:
        return False
    before, after = ice_credentials(current), ice_credentials(offer)
    return before is not None and after is not None and before != after
