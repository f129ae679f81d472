"""Every private aiortc/aioice member the adapter relies on is still there, with the expected
signature. An aiortc/aioice upgrade that moves one fails here, not in a call."""

from __future__ import annotations

import asyncio
import importlib
import inspect
from typing import Any

import pylibsrtp
import pytest
from aioice import ice
from aiortc import RTCPeerConnection

from liveloop_sfu.media.transport.hooks import REQUIRED_HOOKS, Hook


def _owner(path: str) -> Any:
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError:
        module, _, name = path.rpartition(".")
        return getattr(importlib.import_module(module), name)


async def _instances() -> dict[str, object]:
    """One live instance of every class whose instance attributes the adapter uses."""
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video")
    dtls = transceiver.receiver.transport
    connection = dtls.transport._connection
    found: dict[str, object] = {
        "aiortc.rtcdtlstransport.RTCDtlsTransport": dtls,
        "aiortc.rtcrtpsender.RTCRtpSender": transceiver.sender,
        "aiortc.rtcrtpreceiver.RTCRtpReceiver": transceiver.receiver,
        "aiortc.rtcrtptransceiver.RTCRtpTransceiver": transceiver,
        "aiortc.rtcicetransport.RTCIceTransport": dtls.transport,
        "aioice.ice.Connection": connection,
        "aioice.ice.StunProtocol": ice.StunProtocol(connection),
        "pylibsrtp.Session": pylibsrtp.Session(),
    }
    await pc.close()
    return found


INSTANCES = asyncio.run(_instances())
METHODS = [h for h in REQUIRED_HOOKS if h.params is not None]
ATTRIBUTES = [h for h in REQUIRED_HOOKS if h.params is None]


@pytest.mark.parametrize("hook", METHODS, ids=lambda h: f"{h.owner}.{h.name}")
def test_method_exists_with_expected_parameters(hook: Hook) -> None:
    member = getattr(_owner(hook.owner), hook.name)
    assert callable(member)
    params = [p for p in inspect.signature(member).parameters if p != "self"]
    assert tuple(params) == hook.params


@pytest.mark.parametrize("hook", ATTRIBUTES, ids=lambda h: f"{h.owner}.{h.name}")
def test_attribute_exists(hook: Hook) -> None:
    """Instance attributes (set in ``__init__``) on a live instance; module constants directly."""
    owner = INSTANCES.get(hook.owner) or _owner(hook.owner)
    assert hasattr(owner, hook.name)


def test_handlers_are_awaited_coroutines() -> None:
    """The adapter replaces these with coroutine functions; they must still be awaited."""
    from aiortc.rtcdtlstransport import RTCDtlsTransport

    for name in ("_handle_rtp_data", "_handle_rtcp_data"):
        assert inspect.iscoroutinefunction(getattr(RTCDtlsTransport, name)), name


def test_aiortc_still_defaults_to_a_public_stun_server() -> None:
    """Why the adapter always passes an explicit (possibly empty) ICE server list."""
    from aiortc.rtcicetransport import RTCIceGatherer

    assert RTCIceGatherer.getDefaultIceServers()


def test_aioice_still_leaves_loopback_out() -> None:
    """Why the adapter gathers host candidates itself."""
    assert "127.0.0.1" not in ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
