"""Recorded calls reuse the media tests' in-process room (an sfu session + aiortc clients)."""

from tests.integration.media.conftest import Room, room

__all__ = ["Room", "room"]
