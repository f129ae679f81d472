"""The folders whose modules mypyc compiles: the one list, read by ``setup.py`` at build time and
by :mod:`.native` at run time.

Each folder holds only compiled modules, so a module is compiled because of where it lives, not
because someone remembered to add it to a list. This file imports nothing: ``setup.py`` loads it
by path, before the package is installed.
"""

# The node's packet path: one shared library, liveloop_sfu/media/_native__mypyc.
COMPILED_PACKAGES = (
    "liveloop_sfu/media/core",  # the sans-I/O RTP/RTCP core
    "liveloop_sfu/media/codecs",  # keyframe detection per codec
    "liveloop_sfu/media/sfu/dispatch",  # the session's per-packet RTP dispatch
    "liveloop_sfu/media/transport/srtp",  # SRTP in and out, socket reads and sends
)
NODE_GROUP = "liveloop_sfu.media._native"

# Not the node's: the cheap load client's per-packet half (benchmarks/clients/cheap_peer.py),
# a shared library of its own (benchmarks/clients/_native__mypyc). benchmarks/ comes with a
# checkout, never with the wheel, so these are compiled by an editable install of a checkout
# (scripts/install.sh) and only where the folder exists. Its generic part (SRTP protect, then the
# socket) is the node's own PeerIo above; what lives here is client-only (counting
# unauthenticated headers is something a node must never do).
BENCHMARK_COMPILED_PACKAGES = ("benchmarks/clients/native",)
BENCHMARK_GROUP = "benchmarks.clients._native"
# And one C extension of the load client's (its packet I/O; the client runs without it).
BENCHMARK_WIRE = "benchmarks.clients.native._wire"
BENCHMARK_WIRE_SOURCE = "benchmarks/clients/native/_wire.c"
