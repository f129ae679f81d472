"""Playwright fixtures: one real headless Chromium per test, a fresh profile per page."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from playwright.async_api import Browser, Playwright, async_playwright

from tests.browser.pages import ClientPage, launch_chromium

OpenClient = Callable[[str, str], Awaitable[ClientPage]]


@pytest.fixture
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as driver:
        yield driver


@pytest.fixture
async def browser(playwright: Playwright) -> AsyncIterator[Browser]:
    chromium = await launch_chromium(playwright)
    yield chromium
    await chromium.close()


@pytest.fixture
async def open_client(browser: Browser) -> AsyncIterator[OpenClient]:
    """``await open_client(url, name)``: a person on the page; fails the test on page errors."""
    clients: list[ClientPage] = []

    async def open_one(url: str, name: str) -> ClientPage:
        client = await ClientPage.open(browser, url, name)
        clients.append(client)
        return client

    yield open_one
    errors = [error for client in clients for error in client.errors]
    for client in clients:
        await client.close()
    assert not errors, f"uncaught errors in the page: {errors}"
