"""The media session through the node: participants' media records and links, which track goes on
which m-line (slots), ICE restart, the active speaker. The per-packet
dispatch is compiled and lives in :mod:`.dispatch`."""
