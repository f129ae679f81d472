"""The per-packet half of the cheap load client (:mod:`benchmarks.clients.cheap_peer`): sending
pre-packetized cached media and counting what arrives from the clear RTP header. Compiled by
mypyc: only compiled modules live here (:mod:`liveloop_sfu.media.compiled`)."""
