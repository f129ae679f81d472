"""The folders whose modules mypyc compiles: the one list, read by ``setup.py`` at build time and
by :mod:`.native` at run time.

Each folder holds only compiled modules, so a module is compiled because of where it lives, not
because someone remembered to add it to a list. This file imports nothing: ``setup.py`` loads it
by path, before the package is installed.
"""

COMPILED_PACKAGES = (
    "liveloop_sfu/media/core",  # the sans-I/O RTP/RTCP core
    "liveloop_sfu/media/codecs",  # keyframe detection per codec
    "liveloop_sfu/media/sfu/dispatch",  # the session's per-packet RTP dispatch
    "liveloop_sfu/media/transport/srtp",  # SRTP in and out, socket reads and sends
)
