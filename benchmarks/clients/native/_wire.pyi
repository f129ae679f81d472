# The C extension benchmarks/clients/native/_wire.c (its comments document each call).

MAX_PACKETS: int

def protect_and_send(
    fd: int,
    address: bytes,
    ctx: int,
    protect: int,
    packets: list[bytes],
    gso: bool,
    spill: list[bytes],
    /,
) -> int: ...
def sockaddr(host: str, port: int, /) -> bytes: ...

class Reader:
    buffers: list[bytearray]
    slots: int
    truncated: int
    def __init__(self, fd: int, buffers: list[bytearray]) -> None: ...
    def read(self) -> int: ...
    def size(self, i: int, /) -> int: ...
    def arrival_ns(self, i: int, /) -> int: ...
