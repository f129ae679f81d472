"""Bearer-token check of the admin API."""

from __future__ import annotations

import pytest

from liveloop_sfu.http.admin_auth import bearer_matches

TOKEN = "s3cret-token-0123456789"


@pytest.mark.parametrize(
    ("header", "token", "ok"),
    [
        (f"Bearer {TOKEN}", TOKEN, True),
        (f"bearer {TOKEN}", TOKEN, True),  # RFC 7235: the scheme is case-insensitive
        (f"Bearer  {TOKEN} ", TOKEN, True),
        (f"Bearer {TOKEN}x", TOKEN, False),
        (f"Bearer {TOKEN[:-1]}", TOKEN, False),
        (f"Basic {TOKEN}", TOKEN, False),
        (TOKEN, TOKEN, False),
        ("Bearer ", TOKEN, False),
        (None, TOKEN, False),
        (f"Bearer {TOKEN}", None, False),  # no token configured: nobody gets in
        ("Bearer ", "", False),
        ("Bearer ünïcode", TOKEN, False),
    ],
)
def test_bearer_matches(header: str | None, token: str | None, ok: bool) -> None:
    assert bearer_matches(header, token) is ok
