"""Session aliases of resumed clients (liveloop_sfu/rooms/resume.py): pure."""

from __future__ import annotations

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
