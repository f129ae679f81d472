"""The session learns a simulcast layer's SSRC from the RID of its first packets (RFC 8852), on
the m-line the MID names, once per layer and per RTX stream."""

from __future__ import annotations

from liveloop_sfu.media.core.forwarder import Forwarder
from liveloop_sfu.media.core.reception import ReceptionStats
from liveloop_sfu.media.core.rewriter import MID_URI, REPAIRED_RID_URI, RID_URI
from liveloop_sfu.media.core.rtp import build_rtp
from liveloop_sfu.media.settings import MediaSettings
from liveloop_sfu.media.sfu.links import LinkTable, MediaParticipant, Publication, learn_ssrc
from liveloop_sfu.media.transport.negotiated import Codec, MediaLine, track_config
from liveloop_sfu.media.transport.peer import NodePeer

VP8 = Codec(96, "video/vp8", 90000, None, (), rtx_payload_type=97)


def line(mid: str, rids: tuple[str, ...]) -> MediaLine:
    return MediaLine(
        mid=mid,
        kind="video",
        receives=True,
        sends=False,
        codecs=(VP8,),
        extensions=((MID_URI, 4), (RID_URI, 10), (REPAIRED_RID_URI, 11)),
        remote_ssrc=None,
        remote_rtx_ssrc=None,
        local_ssrc=1,
        local_rtx_ssrc=2,
        cname="x",
        rids=rids,
    )


def publisher(*lines: MediaLine) -> MediaParticipant:
    participant = MediaParticipant("sid", "pid", NodePeer(MediaSettings(), "test"))
    for media in lines:
        config = track_config(media)
        participant.publications[media.mid] = Publication(
            "sid", media, Forwarder(config), ReceptionStats(config.clock_rate)
        )
    return participant


def packet(ssrc: int, mid: bytes, rid: bytes, rtx: bool = False) -> bytes:
    rid_id = 11 if rtx else 10
    return build_rtp(
        pt=97 if rtx else 96, seq=1, ts=1, ssrc=ssrc, extensions=[(4, mid), (rid_id, rid)]
    )


def test_layers_and_their_rtx_are_learnt_on_the_m_line_their_mid_names() -> None:
    camera, screen = line("1", ("q", "h", "f")), line("2", ("l", "h"))
    participant = publisher(camera, screen)
    cam, scr = participant.publications["1"], participant.publications["2"]
    assert learn_ssrc(participant, packet(0x10, b"1", b"h")) == (cam, False)
    assert learn_ssrc(participant, packet(0x20, b"2", b"h")) == (scr, False)
    assert learn_ssrc(participant, packet(0x11, b"1", b"h", rtx=True)) == (cam, True)
    assert participant.ssrc_routes == {0x10: (cam, False), 0x20: (scr, False), 0x11: (cam, True)}
    assert cam.forwarder.layers[1].ssrc == 0x10 and cam.forwarder.layers[1].rtx_ssrc == 0x11
    assert scr.forwarder.layers[1].ssrc == 0x20


def test_unknown_rids_and_repeated_layers_stay_unroutable() -> None:
    participant = publisher(line("1", ("q", "h", "f")))
    assert learn_ssrc(participant, packet(0x10, b"1", b"x")) is None  # no such layer
    assert learn_ssrc(participant, packet(0x10, b"9", b"q")) is None  # another m-line's
    assert learn_ssrc(participant, build_rtp(pt=96, seq=1, ts=1, ssrc=0x10)) is None  # no RID
    assert learn_ssrc(participant, packet(0x10, b"1", b"q")) is not None
    # A flood of new SSRCs claiming a known layer grows nothing.
    for ssrc in range(0x100, 0x200):
        assert learn_ssrc(participant, packet(ssrc, b"1", b"q")) is None
    assert len(participant.ssrc_routes) == 1


def test_a_rebuilt_publication_keeps_the_layers_learnt_before() -> None:
    """An ICE restart rebuilds the publications; the browser keeps its SSRCs but no longer
    stamps the RID extensions (acknowledged by receiver reports), so they must carry over."""
    camera = line("1", ("q", "h"))
    participant = MediaParticipant("sid", "pid", NodePeer(MediaSettings(), "test"))
    participant.peer.media = (camera,)
    table = LinkTable({"sid": participant}, lambda publication, actions: None, audio_levels=False)
    table.publish(participant)
    learn_ssrc(participant, packet(0x10, b"1", b"h"))
    learn_ssrc(participant, packet(0x11, b"1", b"h", rtx=True))
    table.unpublish(participant)  # as an ICE restart does
    table.publish(participant)
    cam = participant.publications["1"]
    assert participant.ssrc_routes == {0x10: (cam, False), 0x11: (cam, True)}
    assert (cam.forwarder.layers[1].ssrc, cam.forwarder.layers[1].rtx_ssrc) == (0x10, 0x11)
    assert cam.forwarder.layers[0].ssrc is None  # never learnt, still to be learnt by RID
