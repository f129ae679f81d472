"""Many datagrams per system call, each with the kernel's receive time: ``recvmmsg(2)``.

Python's socket module reads one datagram per call, and a cheap receiver's socket holds a few
packets per 20 ms tick (about 3 at 1 Mbit/s of video and Opus) plus the read that finds it
empty, which raises an exception. :class:`DatagramBatch` reads everything queued, up to
:data:`SLOTS` datagrams, in one ``recvmmsg`` into buffers allocated once, and finds the socket
empty without an exception (it returns -1, EAGAIN, which is all it needs to know).

With ``SO_TIMESTAMPNS`` on (socket(7)), every datagram comes with the kernel's receive time
(CLOCK_REALTIME, ns) in a control message: the arrival of each packet, not of the tick that read
it, for the transport-wide feedback (the node's delay-based estimator reads queueing from these)
and the receiver reports' jitter. The node reads the same kernel time with ``SIOCGSTAMP``
(:mod:`liveloop_sfu.media.transport.srtp.packet_io`), one ``ioctl`` per datagram; here it comes
with the read.

The C structures are laid out by hand in ``bytearray``s (LP64 Linux: ``struct mmsghdr`` is 64
bytes, ``struct iovec`` 16, one ``SCM_TIMESTAMPNS`` control message 32) and read back through
``struct``: no ctypes object per datagram. :func:`available` says whether this
machine has it (Linux, 64-bit); the receiver falls back to ``recv_into`` otherwise.
"""

from __future__ import annotations

import ctypes
import socket
import struct
from typing import Any, Final

SLOTS: Final = 64  # datagrams per call
SLOT_BYTES: Final = 2048  # per datagram: media packets are MTU-sized; longer ones are truncated
SO_TIMESTAMPNS: Final = 35  # asm-generic/socket.h; SCM_TIMESTAMPNS has the same number
MSG_DONTWAIT: Final = 0x40
MSG_TRUNC: Final = 0x20
_ENTRY_WORDS: Final = 8  # struct mmsghdr in 8-byte words
_CONTROL_BYTES: Final = 32  # CMSG_SPACE(sizeof(struct timespec))
# Word offsets in an mmsghdr: msg_name 0, msg_namelen 1, msg_iov 2, msg_iovlen 3, msg_control 4,
# msg_controllen 5, msg_flags 6, msg_len 7 (the 32-bit fields padded to 8 bytes).
_IOV: Final = 2
_IOVLEN: Final = 3
_CONTROL: Final = 4
_CONTROLLEN_WORD: Final = 5
_CMSG_KIND: Final = socket.SOL_SOCKET | SO_TIMESTAMPNS << 32  # cmsg_level, cmsg_type in one word
_ENTRY_BYTES: Final = 64
# What the kernel writes back into an mmsghdr: msg_controllen (at byte 40), msg_flags, msg_len.
_ENTRY_TAIL = struct.Struct("<Qi4xI4x")
_CONTROLLEN = struct.Struct("<Q")
# The one control message: cmsg_len, cmsg_level | cmsg_type << 32, then struct timespec.
_STAMP = struct.Struct("<QQqq")


def _recvmmsg() -> Any:
    """libc's ``recvmmsg``, or None where the layout above does not hold or there is none."""
    if ctypes.sizeof(ctypes.c_void_p) != 8 or struct.calcsize("@P") != 8:
        return None
    try:
        function: Any = ctypes.PyDLL(None).recvmmsg
    except (OSError, AttributeError):
        return None
    # PyDLL keeps the GIL: the call never blocks (MSG_DONTWAIT), and releasing and taking the
    # GIL back would cost more than the read.
    function.argtypes = [
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_void_p,
    ]
    function.restype = ctypes.c_int
    return function


_RECVMMSG: Any = _recvmmsg()


def available() -> bool:
    return _RECVMMSG is not None


def _address(buffer: bytearray) -> tuple[int, Any]:
    """The address of a bytearray's memory, and the export that keeps it there (a bytearray
    with an export cannot be resized, so its memory does not move)."""
    anchor: Any = ctypes.c_char.from_buffer(buffer)
    return ctypes.addressof(anchor), anchor


class DatagramBatch:
    """Reads up to :data:`SLOTS` datagrams of one non-blocking UDP socket per :meth:`read`."""

    def __init__(self, sock: Any, slots: int = SLOTS, slot_bytes: int = SLOT_BYTES) -> None:
        if _RECVMMSG is None:
            raise OSError("recvmmsg is not available here")
        self._fd: int = sock.fileno()
        self.slots = slots
        self.truncated = 0  # datagrams longer than a slot (dropped)
        # Kernel receive times: on for this socket from now on (the caller's reads of it all go
        # through here; others would just not read the control message).
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.buffers: list[bytearray] = [bytearray(slot_bytes) for _ in range(slots)]
        self._iovecs = bytearray(16 * slots)
        self._controls = bytearray(_CONTROL_BYTES * slots)
        self._entries = bytearray(8 * _ENTRY_WORDS * slots)
        self._anchors: list[Any] = []
        iovecs_at = self._pin(self._iovecs)
        controls_at = self._pin(self._controls)
        self._entries_at = self._pin(self._entries)
        entries = memoryview(self._entries).cast("Q")
        iovecs = memoryview(self._iovecs).cast("Q")
        for i, buffer in enumerate(self.buffers):
            iovecs[2 * i] = self._pin(buffer)
            iovecs[2 * i + 1] = slot_bytes
            base = i * _ENTRY_WORDS
            entries[base + _IOV] = iovecs_at + 16 * i
            entries[base + _IOVLEN] = 1
            entries[base + _CONTROL] = controls_at + _CONTROL_BYTES * i
            entries[base + _CONTROLLEN_WORD] = _CONTROL_BYTES
        entries.release()
        iovecs.release()
        self._stamp = 0
        # Module globals are dictionary look-ups in compiled code; attributes are not.
        self._recvmmsg: Any = _RECVMMSG
        self._tail: Any = _ENTRY_TAIL
        self._cmsg: Any = _STAMP

    def _pin(self, buffer: bytearray) -> int:
        address, anchor = _address(buffer)
        self._anchors.append(anchor)
        return address

    def read(self) -> int:
        """Datagrams read into :attr:`buffers` (0: none queued, or the socket reported an
        error, which the next read gets past as ``recv`` would)."""
        count: int = self._recvmmsg(self._fd, self._entries_at, self.slots, MSG_DONTWAIT, None)
        return count if count > 0 else 0

    def size(self, i: int) -> int:
        """Bytes of datagram ``i`` of the last read; -1 if it was longer than a slot. Reads the
        kernel's receive time of it too, for :meth:`arrival_ns` (call it before that)."""
        used, flags, length = self._tail.unpack_from(self._entries, i * _ENTRY_BYTES + 40)
        if used == _CONTROL_BYTES:
            size, kind, seconds, nanoseconds = self._cmsg.unpack_from(
                self._controls, i * _CONTROL_BYTES
            )
            stamped = size == _CONTROL_BYTES and kind == _CMSG_KIND
            self._stamp = seconds * 1_000_000_000 + nanoseconds if stamped else 0
        else:
            # None came with it (the kernel wrote back that no control data was used): give
            # the slot its whole control buffer again for the next read.
            self._stamp = 0
            _CONTROLLEN.pack_into(self._entries, i * _ENTRY_BYTES + 40, _CONTROL_BYTES)
        if flags & MSG_TRUNC:
            self.truncated += 1
            return -1
        return int(length)

    def arrival_ns(self, i: int) -> int:
        """The kernel's receive time (CLOCK_REALTIME, ns) of datagram ``i``; 0 if it came
        without one. Call :meth:`size` for ``i`` first (which reads it)."""
        return self._stamp

    def arrival(self, i: int) -> float:
        """:meth:`arrival_ns` in seconds (0.0: none)."""
        return self._stamp * 1e-9
