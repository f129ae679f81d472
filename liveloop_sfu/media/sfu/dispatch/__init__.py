"""The session's per-packet RTP dispatch (publisher in, subscribers' copies out). Compiled by mypyc:
only compiled modules live here (:mod:`liveloop_sfu.media.compiled`)."""
