"""Per-codec knowledge on RTP payload bytes: does a packet begin a keyframe (VP8, H.264).

Compiled by mypyc like :mod:`liveloop_sfu.media.core` (see :mod:`liveloop_sfu.media.compiled`); the
recorder's depacketizers stay interpreted in :mod:`liveloop_sfu.media.recording`."""
