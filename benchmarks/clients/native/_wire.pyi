# The C extension benchmarks/clients/native/_wire.c (its comments document each call).

MAX_PACKETS: int
HISTORY: int

def sockaddr(host: str, port: int, /) -> bytes: ...

class Reader:
    buffers: list[bytearray]
    slots: int
    truncated: int
    def __init__(self, fd: int, buffers: list[bytearray]) -> None: ...
    def read(self) -> int: ...
    def size(self, i: int, /) -> int: ...
    def arrival_ns(self, i: int, /) -> int: ...
    def arrival(self, i: int, /) -> float: ...

class FrameWriter:
    octets: int
    def __init__(
        self,
        fd: int,
        address: bytes,
        ctx: int,
        protect: int,
        b0: int,
        pt: int,
        marker: bool,
        vp8: bool,
        ssrc: int,
        ext_head: bytes,
        ext_tail: bytes,
        transport: bool,
    ) -> None: ...
    def send_frame(
        self,
        chunks: list[bytes],
        seq: int,
        ts: int,
        picture_id: int,
        transport_seq: int,
        gso: bool,
        send: bool,
        spill: list[bytes],
        counted: int,
        drop_every: int,
        forget: bool,
        /,
    ) -> int: ...
    def packet(self, seq: int, /) -> bytes | None: ...
