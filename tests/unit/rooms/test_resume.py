"""Session aliases of resumed clients (liveloop_sfu/rooms/resume.py) and the vanish budget a
silent client's resume gets (liveloop_sfu/rooms/records.py): pure."""

from __future__ import annotations

from liveloop_sfu.rooms.records import VANISH_BUDGET, VANISH_MARGIN, vanish_wait
from liveloop_sfu.rooms.resume import SessionAliases


def test_session_aliases() -> None:
    aliases = SessionAliases()
    assert (aliases.session("s1"), aliases.socket("s1")) == ("s1", "s1")
    aliases.bind("s2", "s1")  # s1's client came back on socket s2
    assert (aliases.session("s2"), aliases.socket("s1")) == ("s1", "s2")
    aliases.bind("s3", "s1")  # and again on s3
    assert aliases.socket("s1") == "s3"
    aliases.unbind("s2")  # the stale socket's goodbye does not undo the newer binding
    assert aliases.socket("s1") == "s3" and aliases.session("s2") == "s2"
    aliases.unbind("s3")
    assert aliases.socket("s1") == "s1" and len(aliases) == 0


def test_a_resume_supersedes_a_socket_that_still_looks_alive() -> None:
    aliases = SessionAliases()
    aliases.supersede("s1")  # s1's client is back on s2 while s1 never closed
    aliases.bind("s2", "s1")
    # The old socket speaks for nobody; events out go to the new one.
    assert aliases.session("s1") not in ("s1", "s2")
    assert (aliases.session("s2"), aliases.socket("s1")) == ("s1", "s2")
    aliases.unbind("s1")  # its close, when it comes, leaves the session where it is
    assert aliases.socket("s1") == "s2"
    aliases.supersede("s2")  # and once more, from s2 to s3
    aliases.bind("s3", "s1")
    assert aliases.session("s2") not in ("s1", "s2", "s3")
    assert (aliases.session("s3"), aliases.socket("s1")) == ("s1", "s3")
    aliases.unbind("s2")
    aliases.unbind("s3")
    assert len(aliases) == 0


def test_the_vanish_budget_runs_from_the_latest_sign_of_life() -> None:
    # Budget 10 s, of which the node keeps 1 s to decide: it may wait until 9 s after the last
    # sign of life, whichever kind (media in sfu, the socket's last pong in p2p) came last.
    assert VANISH_BUDGET - VANISH_MARGIN == 9.0
    assert vanish_wait([100.0], now=106.0) == 3.0
    assert vanish_wait([100.0, 104.0], now=106.0) == 7.0  # a later pong than the last media
    assert vanish_wait([None, 104.0], now=106.0) == 7.0  # p2p: no media, the pong alone
    assert vanish_wait([104.0, None], now=106.0) == 7.0  # sfu: a socket with no ping out
    # Spent, or nothing known: no wait at all (the call ends at once, as before issue 16).
    assert vanish_wait([100.0], now=109.5) == 0.0
    assert vanish_wait([None, None], now=106.0) == 0.0
    assert vanish_wait([], now=106.0) == 0.0
