"""The use cases behind every client event: 1:1 calls and group rooms with their records, resume
after a dropped socket, calls whose members sit on other nodes, safety among strangers (report,
skip), the recording service and its pure policy, room tokens and TURN credentials, and the
validated commands (``commands.py``) every boundary hands them. Imports matchmaking, cluster
and media below it; never the boundaries (``signal``, ``http``) above it."""
