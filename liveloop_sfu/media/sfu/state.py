"""What the parts of one :class:`~.session.SfuSession` share, handed to each in one value.

The session is composed of small classes (:mod:`.peers`, :mod:`.feedback`,
:mod:`.renegotiation`, :mod:`.speaker_announcer`), each owning one responsibility; they all
work on the same participants, link table and counters, and wake the same session task.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from liveloop_sfu.media.sfu.actions import ActionSender
from liveloop_sfu.media.sfu.links import LinkTable, MediaParticipant


@dataclass(frozen=True, slots=True, eq=False)
class SessionState:
    """The session's own records, shared (never copied) by its parts."""

    room_id: str
    participants: dict[str, MediaParticipant]  # by sid, in join order
    table: LinkTable  # who forwards what to whom
    actions: ActionSender  # sends (or queues) what the forwarders decide
    counters: Counter[str]  # the session's metrics
    wake: Callable[[], None]  # wakes the session task: something is due sooner
