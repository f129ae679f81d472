"""The per-packet half of the transport: SRTP protect/unprotect, socket reads and sends. Compiled
by mypyc: only compiled modules live here (:mod:`liveloop_sfu.media.compiled`)."""
