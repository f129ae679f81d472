"""The cheap client's packet I/O in C (:file:`_wire.c`), where it was built: a stream's frames
built, kept, SRTP-protected and sent (:func:`frame_writer`, through a :class:`WireSender`),
``recvmmsg`` with kernel receive times (:func:`reader`).

``pip install -e .`` builds the C extension beside this module's compiled code; without a C
compiler (or with ``LIVELOOP_PURE=1``) there is none, and ``LIVELOOP_BENCH_WIRE=0`` leaves it
unused (to compare the two); :func:`available` is False, and the client
takes its Python paths (``media_sender.py``'s ``PeerIo`` and ``sendmsg``, ``datagrams.py``'s
ctypes ``recvmmsg``), which send and read the same datagrams at more CPU per packet.

libsrtp is the one aiortc keyed the session in (pylibsrtp's): the C code calls its
``srtp_protect`` by address, which cffi gives, after checking it has the libsrtp 2 signature
the C code was written for.
"""

from __future__ import annotations

import importlib
import os
import socket
from typing import Any, Final

from pylibsrtp import _binding

from benchmarks.clients.native.datagrams import SLOT_BYTES, SLOTS, SO_TIMESTAMPNS

# libsrtp 2: srtp_err_status_t srtp_protect(srtp_t ctx, void *rtp_hdr, int *len_ptr).
PROTECT_TYPE: Final = "srtp_err_status_t(*)(struct srtp_ctx_t_ *, void *, int *)"


def _load() -> Any:
    # LIVELOOP_BENCH_WIRE=0: the Python paths even where C was built (to compare the two).
    if os.environ.get("LIVELOOP_BENCH_WIRE", "1") == "0":
        return None
    try:
        return importlib.import_module("benchmarks.clients.native._wire")
    except ImportError:
        return None


_WIRE: Any = _load()


def available() -> bool:
    """The C extension was built and libsrtp's ``srtp_protect`` is the one it calls."""
    return _WIRE is not None and _protect_address() != 0


def _protect_address() -> int:
    ffi, lib = _binding.ffi, _binding.lib
    function = ffi.addressof(lib, "srtp_protect")
    if ffi.typeof(function).cname != PROTECT_TYPE:
        return 0
    return int(ffi.cast("uintptr_t", function))


class WireSender:
    """Where a peer's C frame writers (:func:`frame_writer`) protect and send: one SRTP session
    (a ``pylibsrtp.Session``), one socket, one address. Raises ``ValueError`` if the address is
    not numeric, or ``OSError`` if the C extension is not there."""

    def __init__(self, session: Any, sock: Any, addr: Any) -> None:
        if not available():
            raise OSError("the C packet I/O (_wire) is not built here")
        self.session = session  # keeps the C context alive
        ctx = session._srtp[0]
        self._ctx = int(_binding.ffi.cast("uintptr_t", ctx))
        self._protect = _protect_address()
        self._fd: int = sock.fileno()
        self._address: bytes = _WIRE.sockaddr(str(addr[0]), int(addr[1]))
        # What the kernel did not take for a full socket buffer, protected already: the caller
        # queues it (libsrtp would refuse to protect the same packets twice).
        self.spill: list[bytes] = []


def frame_writer(
    sender: WireSender,
    *,
    b0: int,
    pt: int,
    marker: bool,
    vp8: bool,
    ssrc: int,
    ext_head: bytes,
    ext_tail: bytes,
    transport: bool,
) -> Any:
    """A C writer of one RTP stream's frames (``_wire.FrameWriter``: headers, extensions and
    VP8 descriptors written, packets kept, protected and sent as
    :class:`~benchmarks.clients.native.media_sender.StreamSender` does in Python) through
    ``sender``'s session, socket and address."""
    return _WIRE.FrameWriter(
        sender._fd,
        sender._address,
        sender._ctx,
        sender._protect,
        b0,
        pt,
        marker,
        vp8,
        ssrc,
        ext_head,
        ext_tail,
        transport,
    )


def reader(sock: Any) -> Any:
    """A C ``recvmmsg`` reader of ``sock`` with the interface of
    :class:`~benchmarks.clients.native.datagrams.DatagramBatch` (``read``, ``size``,
    ``arrival_ns``, ``arrival``, ``buffers``, ``slots``, ``truncated``), kernel receive times
    on; None without the C extension."""
    if _WIRE is None:
        return None
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    return _WIRE.Reader(sock.fileno(), [bytearray(SLOT_BYTES) for _ in range(SLOTS)])
