"""Who forwards what to whom in one :class:`~.session.SfuSession`: its records and its links.

The records of the session's participants and of the tracks they publish (one
:class:`Publication`, with its :class:`~.forwarder.Forwarder`, per receiving m-line), and
:class:`LinkTable`, the bookkeeping of which publisher track is forwarded to which subscriber
m-line: it (re)builds a participant's publications after each answer, links every slot whose
both ends are negotiated, unlinks what a new answer or a departure ends (keeping the output
stream to continue it), and says which tracks a subscriber can be offered. Apart from session.py
because none of it waits on anything: it is plain state changed by the session's coroutines,
while session.py and the classes it composes (:mod:`.peers`, :mod:`.feedback`,
:mod:`.renegotiation`) are the coroutines (negotiation, the session task, timers). The
per-packet path (:mod:`.dispatch.rtp_path`, compiled) reads these records by attribute.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from liveloop_sfu.media.core.bandwidth_estimator import SubscriberEstimator
from liveloop_sfu.media.core.drops import DropCounters
from liveloop_sfu.media.core.forwarder import Action, Forwarder
from liveloop_sfu.media.core.reception import ReceptionStats
from liveloop_sfu.media.core.rewriter import (
    AUDIO_LEVEL_URI,
    MID_URI,
    REPAIRED_RID_URI,
    RID_URI,
    TransportSequence,
)
from liveloop_sfu.media.core.simulcast import read_rid
from liveloop_sfu.media.core.subscription import Subscription
from liveloop_sfu.media.core.transport_feedback import TransportFeedbackBuilder
from liveloop_sfu.media.sfu.slots import OfferedTrack, TrackRef, placeholder_tracks
from liveloop_sfu.media.transport.negotiated import MediaLine, subscriber_config, track_config
from liveloop_sfu.media.transport.peer import NodePeer

# A subscription added by a renegotiation starts this long after the node's answer: until the
# browser has applied the answer, its receiver for that m-line is not on, and whatever arrives
# (the keyframe the subscription waits for above all) is thrown away.
ANSWER_GRACE = 0.3

# Queue a forwarder's actions for the session task to send (they are produced outside it).
Execute = Callable[["Publication", list[Action]], None]


@dataclass(eq=False)
class Publication:
    """One track a participant publishes to the node (one receiving m-line)."""

    owner: str  # sid
    line: MediaLine
    forwarder: Forwarder
    reception: ReceptionStats  # for the receiver reports the node owes the publisher
    audio_level_id: int | None = None  # RFC 6464 extension id, read for active-speaker detection

    @property
    def track_id(self) -> str:
        return track_id(self.line)


def same_track(old: MediaLine, new: MediaLine) -> bool:
    """Does the browser still publish the same track the same way on this m-line?"""
    return (
        track_config(old) == track_config(new)
        and old.remote_rtx_ssrc == new.remote_rtx_ssrc
        and old.rids == new.rids
        and track_id(old) == track_id(new)
    )


def published_tracks(participant: MediaParticipant) -> set[tuple[str, str]]:
    """(mid, track id) of every track the participant publishes."""
    return {(mid, pub.track_id) for mid, pub in participant.publications.items()}


def track_id(line: MediaLine) -> str:
    """The msid track id of a published m-line (made up if the browser sent none)."""
    return line.remote_track_id or f"{line.kind}-{line.mid}"


@dataclass(eq=False)
class MediaParticipant:
    sid: str
    participant_id: str
    peer: NodePeer
    deadline: float | None = None  # connect deadline (monotonic), from the first offer
    connected: bool = False
    last_heard: float = 0.0  # last RTP/RTCP from the browser (monotonic), once connected
    # Its signaling socket dropped and a resume is pending (liveloop_sfu/rooms/resume.py): silence
    # and a failed connection wait for the resume (and the ICE restart that may follow).
    held: bool = False
    publications: dict[str, Publication] = field(default_factory=dict)  # by mid
    ssrc_routes: dict[int, tuple[Publication, bool]] = field(default_factory=dict)  # (pub, rtx)
    # The simulcast layers learnt on each m-line, {mid: {rid: (SSRC, RTX SSRC)}}, kept when its
    # publication is rebuilt (an ICE restart, a renegotiation): the browser keeps its SSRCs but
    # sends the RID extensions only until a receiver report acknowledged them, so the new
    # publication could not learn them again (a restarted publisher's video froze for everyone).
    layer_ssrcs: dict[str, dict[str, tuple[int | None, int | None]]] = field(default_factory=dict)
    slots: dict[str, TrackRef] = field(default_factory=dict)  # own mid -> track it carries
    # Output streams of slots whose track was unlinked: a new track on the same slot (same SSRC)
    # continues them, so the browser sees one stream without a sequence jump.
    retired: dict[str, Subscription] = field(default_factory=dict)
    # While an ICE restart is being answered: the tracks it published before, still offered to
    # the others (a renegotiation of theirs meanwhile must not free the slots that carry them).
    restarting: list[OfferedTrack] | None = None
    # Transport-wide congestion control from this browser (media/sfu/transport_cc.py): the
    # arrivals of its packets that the node's transport feedback reports (recorded by its peer's
    # packet path, media/transport/srtp/packet_io.py; None = not negotiated).
    transport_feedback: TransportFeedbackBuilder | None = None
    # The node's own transport-wide sequence numbers on what it sends this browser: one counter
    # per transport, shared by all its m-lines (draft-holmer-rmcat-transport-wide-cc-
    # extensions-01 §2), stamped where the browser negotiated the extension.
    egress_sequence: TransportSequence = field(default_factory=TransportSequence)
    # The estimate of its downlink, made from its transport feedback about what the node sent
    # it, joined with egress_sequence's ring of sent packets (media/sfu/bandwidth.py; None until
    # its first feedback). A new connection (ICE restart) starts both afresh: another path.
    estimator: SubscriberEstimator | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """A publisher track forwarded to one subscriber m-line."""

    publisher: str
    publisher_mid: str
    subscriber: str
    subscriber_mid: str


def offered_tracks(
    participants: dict[str, MediaParticipant], subscriber: MediaParticipant, group: bool
) -> list[OfferedTrack]:
    """What ``subscriber`` can be sent: the others' tracks in join order, each one's in
    m-line order; in a 1:1 call, placeholders for a partner that has not offered yet."""
    tracks: list[OfferedTrack] = []
    for other in participants.values():
        if other is subscriber:
            continue
        if other.restarting is not None:
            tracks += other.restarting
        elif not other.peer.media and not group:
            tracks += placeholder_tracks(other.sid, other.participant_id)
        else:
            tracks += tracks_of(other)
    return tracks


def tracks_of(publisher: MediaParticipant) -> list[OfferedTrack]:
    """The tracks ``publisher`` publishes now, in m-line order."""
    tracks: list[OfferedTrack] = []
    for line in publisher.peer.media:
        publication = publisher.publications.get(line.mid)
        if publication is not None:
            ref = TrackRef(publisher.sid, line.mid, line.kind)
            tracks.append(OfferedTrack(ref, publisher.participant_id, publication.track_id))
    return tracks


def learn_ssrc(publisher: MediaParticipant, data: bytes) -> tuple[Publication, bool] | None:
    """A browser that did not announce its SSRCs (no a=ssrc): match by payload type, once per
    m-line, so a peer spraying random SSRCs cannot grow the table. A simulcast m-line's layers
    are matched by their RID (see :func:`learn_layer`)."""
    pt = data[1] & 0x7F
    for publication in publisher.publications.values():
        line = publication.line
        for codec in line.codecs:
            rtx = pt == codec.rtx_payload_type
            if pt != codec.payload_type and not rtx:
                continue
            if line.rids:
                route = learn_layer(publisher, publication, data, rtx)
                if route is not None:
                    return route
                break  # not one of this m-line's layers; perhaps another m-line's
            announced = line.remote_rtx_ssrc if rtx else line.remote_ssrc
            if announced is not None or any(
                route == (publication, rtx) for route in publisher.ssrc_routes.values()
            ):
                return None
            route = (publication, rtx)
            publisher.ssrc_routes[int.from_bytes(data[8:12], "big")] = route
            return route
    return None


def start_layer(forwarder: Forwarder, now: float) -> int:
    """The simulcast layer a new subscription starts on: the largest being sent now, so that a
    newcomer's first picture does not wait for a layer paused at the publisher
    (:mod:`.encoding_pauses`) to resume; -1 (the forwarder's own choice, the largest seen)
    when none is being sent or the track has no layers."""
    sending = [x for x in forwarder.layers if x.stats is not None and x.stats.active(now)]
    if not sending:
        return -1
    return max(sending, key=lambda x: x.stats.rank() if x.stats is not None else (0, 0)).index


def _remember_layers(participant: MediaParticipant, publication: Publication) -> None:
    """Keep what the publication learnt of its simulcast layers (see ``layer_ssrcs``)."""
    forwarder = publication.forwarder
    if not forwarder.simulcast:
        return
    remembered = participant.layer_ssrcs.setdefault(publication.line.mid, {})
    for layer in forwarder.layers:
        ssrc, rtx_ssrc = remembered.get(layer.rid, (None, None))
        remembered[layer.rid] = (
            layer.ssrc if layer.ssrc is not None else ssrc,
            layer.rtx_ssrc if layer.rtx_ssrc is not None else rtx_ssrc,
        )


def learn_layer(
    publisher: MediaParticipant, publication: Publication, data: bytes, rtx: bool
) -> tuple[Publication, bool] | None:
    """An unknown SSRC on a simulcast m-line: the layer its RID extension names (RFC 8852 §3.1;
    repaired-RID, §3.2, for an RTX stream), if its MID extension (when present) names this
    m-line. Each layer is learnt once (its media and its RTX SSRC), so the table stays bounded
    whatever a peer sends; a packet without a known rid stays unroutable (libwebrtc sends the
    extensions on every packet until a receiver report acknowledges the SSRC)."""
    line = publication.line
    rid = read_rid(data, line.extension_id(REPAIRED_RID_URI if rtx else RID_URI) or 0)
    if not rid or rid not in line.rids:
        return None
    mid = read_rid(data, line.extension_id(MID_URI) or 0)
    if mid and mid != line.mid:
        return None
    ssrc = int.from_bytes(data[8:12], "big")
    if not publication.forwarder.learn_layer(rid, ssrc, rtx):
        return None
    route = (publication, rtx)
    publisher.ssrc_routes[ssrc] = route
    return route


class LinkTable:
    """The links of one session over its ``participants`` (the session's own dict, shared).
    ``execute`` queues a forwarder's actions; ``audio_levels`` (group rooms) makes audio
    publications read their RFC 6464 levels."""

    def __init__(
        self, participants: dict[str, MediaParticipant], execute: Execute, *, audio_levels: bool
    ) -> None:
        self._participants = participants
        self._execute = execute
        self._audio_levels = audio_levels
        self.links: set[Link] = set()
        # (due, publication, subscriber sid): renegotiated subscriptions waiting for ANSWER_GRACE.
        self.starting: list[tuple[float, Publication, str]] = []
        self.retired_drops = DropCounters()  # of the forwarders no longer in use

    def unlink_participant(self, sid: str) -> None:
        """End every link from or to ``sid`` (its subscribers keep their output streams)."""
        for link in [link for link in self.links if sid in (link.publisher, link.subscriber)]:
            self.unlink(link)

    def publish(self, participant: MediaParticipant) -> bool:
        """(Re)build the participant's publications from its negotiated m-lines; True when the
        set of tracks it publishes changed."""
        changed = False
        receiving = {line.mid for line in participant.peer.media if line.receives and line.codecs}
        for mid in [mid for mid in participant.publications if mid not in receiving]:
            # The browser stopped sending on this m-line (e.g. a screen share ended).
            self._drop_publication(participant, participant.publications[mid])
            del participant.publications[mid]
            changed = True
        for line in participant.peer.media:
            if line.mid not in receiving:
                continue
            current = participant.publications.get(line.mid)
            if current is not None and same_track(current.line, line):
                # Only what the node sends on this m-line changed (its slot): keep forwarding.
                current.line = line
                continue
            if current is not None:
                self._drop_publication(participant, current)
            changed = changed or current is None or current.track_id != track_id(line)
            self._add_publication(participant, line)
        return changed

    def _add_publication(self, participant: MediaParticipant, line: MediaLine) -> None:
        config = track_config(line)
        publication = Publication(
            participant.sid, line, Forwarder(config), ReceptionStats(config.clock_rate)
        )
        if self._audio_levels and line.kind == "audio":
            publication.audio_level_id = line.extension_id(AUDIO_LEVEL_URI)
        participant.publications[line.mid] = publication
        if line.remote_ssrc is not None:
            participant.ssrc_routes[line.remote_ssrc] = (publication, False)
        if line.remote_rtx_ssrc is not None:
            participant.ssrc_routes[line.remote_rtx_ssrc] = (publication, True)
        for rid, (ssrc, rtx_ssrc) in participant.layer_ssrcs.get(line.mid, {}).items():
            for known, rtx in ((ssrc, False), (rtx_ssrc, True)):
                if known is not None and publication.forwarder.learn_layer(rid, known, rtx):
                    participant.ssrc_routes[known] = (publication, rtx)

    def _drop_publication(self, participant: MediaParticipant, publication: Publication) -> None:
        _remember_layers(participant, publication)
        for link in [link for link in self.links if link.publisher == participant.sid]:
            if link.publisher_mid == publication.line.mid:
                self.unlink(link)
        participant.ssrc_routes = {
            ssrc: route
            for ssrc, route in participant.ssrc_routes.items()
            if route[0] is not publication
        }
        self.retire(publication.forwarder)

    def slot_publication(self, ref: TrackRef) -> Publication | None:
        publisher = self._participants.get(ref.owner)
        if publisher is None:
            return None
        if ref.mid is not None:
            return publisher.publications.get(ref.mid)
        # A placeholder slot (1:1): the partner's first track of the kind.
        return next((p for p in publisher.publications.values() if p.line.kind == ref.kind), None)

    def unlink_stale(self, subscriber: MediaParticipant) -> None:
        """After a new answer: drop links whose slot now carries another track or nothing."""
        sending = {line.mid for line in subscriber.peer.media if line.sends}
        for link in [link for link in self.links if link.subscriber == subscriber.sid]:
            ref = subscriber.slots.get(link.subscriber_mid)
            publication = self.slot_publication(ref) if ref is not None else None
            if (
                link.subscriber_mid not in sending
                or publication is None
                or (publication.owner, publication.line.mid) != (link.publisher, link.publisher_mid)
            ):
                self.unlink(link)

    def link_all(self, now: float, answered: MediaParticipant | None = None) -> None:
        """Create every missing publisher -> subscriber link whose both ends are negotiated
        (``answered``: the participant whose offer was just answered)."""
        for subscriber in self._participants.values():
            lines = {line.mid: line for line in subscriber.peer.media if line.sends}
            for mid, ref in subscriber.slots.items():
                line = lines.get(mid)
                publication = self.slot_publication(ref)
                if line is not None and publication is not None:
                    self._link(now, publication, subscriber, line, subscriber is answered)

    def _link(
        self,
        now: float,
        publication: Publication,
        subscriber: MediaParticipant,
        line: MediaLine,
        just_answered: bool = False,
    ) -> None:
        if publication.line.kind != line.kind:
            return
        link = Link(publication.owner, publication.line.mid, subscriber.sid, line.mid)
        if link in self.links:
            return
        if any(x.subscriber == subscriber.sid and x.subscriber_mid == line.mid for x in self.links):
            return  # that m-line already carries another track
        config = subscriber_config(subscriber.sid, publication.line, line, subscriber.connected)
        if subscriber.connected and just_answered:
            # Renegotiated: hold it (egress not ready) until the browser has the answer.
            config = dataclasses.replace(config, egress_ready=False)
            self.starting.append((now + ANSWER_GRACE, publication, subscriber.sid))
        previous = subscriber.retired.pop(line.mid, None)
        if previous is not None and previous.ssrc != config.ssrc:
            previous = None
        self.links.add(link)
        # Video waits for a keyframe (and asks the publisher for one) in add_subscriber.
        actions = publication.forwarder.add_subscriber(
            now,
            config,
            transport_seq=subscriber.egress_sequence,
            continue_from=previous,
            layer=start_layer(publication.forwarder, now),
        )
        self._execute(publication, actions)

    def unlink(self, link: Link) -> None:
        self.links.discard(link)
        publisher = self._participants.get(link.publisher)
        publication = publisher.publications.get(link.publisher_mid) if publisher else None
        if publication is not None:
            removed = publication.forwarder.remove_subscriber(link.subscriber)
            subscriber = self._participants.get(link.subscriber)
            if removed is not None and subscriber is not None:
                subscriber.retired[link.subscriber_mid] = removed

    def retire(self, forwarder: Forwarder) -> None:
        for reason, count in forwarder.drops.items():
            self.retired_drops.add(reason, count)

    def publications(self) -> list[Publication]:
        return [pub for p in self._participants.values() for pub in p.publications.values()]

    def unpublish(self, participant: MediaParticipant) -> None:
        """End all the participant's links and publications (an ICE restart: its new connection
        publishes afresh); the output streams stay in ``retired`` to be continued."""
        self.unlink_participant(participant.sid)
        for publication in participant.publications.values():
            _remember_layers(participant, publication)
            self.retire(publication.forwarder)
        participant.publications.clear()
        participant.ssrc_routes.clear()
        self.starting = [entry for entry in self.starting if entry[2] != participant.sid]

    def drops(self) -> DropCounters:
        """Dropped packets by reason, over every forwarder this table ever had."""
        total = DropCounters()
        for reason, count in self.retired_drops.items():
            total.add(reason, count)
        for publication in self.publications():
            for reason, count in publication.forwarder.drops.items():
                total.add(reason, count)
        return total

    def feeding(self, subscriber_sid: str) -> list[Publication]:
        """The publications forwarded to ``subscriber_sid``, one per link."""
        found = [self.publication(link) for link in self.links if link.subscriber == subscriber_sid]
        return [publication for publication in found if publication is not None]

    def publication(self, link: Link) -> Publication | None:
        publisher = self._participants.get(link.publisher)
        return publisher.publications.get(link.publisher_mid) if publisher else None
