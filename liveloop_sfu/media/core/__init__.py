"""The sans-I/O RTP/RTCP core: parse and build, wraparound arithmetic, the forwarder and each
subscriber's copy (rewriting, history, sender reports), NACK, REMB, receiver reports and keyframe
requests. Takes ``now``, returns actions, names every drop. No asyncio, no aiortc, no sockets.

Every module in this folder is compiled by mypyc at install time (``setup.py`` compiles the
folders listed in :mod:`liveloop_sfu.media.compiled`); keep interpreted code out of it."""
