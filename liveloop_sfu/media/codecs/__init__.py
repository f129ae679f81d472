"""Per-codec knowledge on RTP payload bytes, one module per codec: :mod:`.vp8` (payload
descriptor, keyframe), :mod:`.vp9` and :mod:`.h264` (keyframe), and :mod:`.keyframes`, the
per-codec dispatch the forwarder's keyframe gate uses.

Compiled by mypyc like :mod:`liveloop_sfu.media.core` (see :mod:`liveloop_sfu.media.compiled`); the
recorder's depacketizers stay interpreted in :mod:`liveloop_sfu.media.recording` and call
:mod:`.vp8` for the descriptor."""
