"""Reading the STUN USERNAME that routes a datagram on the shared media port (RFC 5389 §15.3)."""

from __future__ import annotations

from aioice import stun
from hypothesis import given
from hypothesis import strategies as st

from liveloop_sfu.media.transport.udp_mux import stun_is_response, stun_username


def binding(message_class: stun.Class, **attributes: object) -> bytes:
    message = stun.Message(message_method=stun.Method.BINDING, message_class=message_class)
    for name, value in attributes.items():
        message.attributes[name] = value
    return bytes(message)


def test_a_binding_request_names_the_receiver_first() -> None:
    data = binding(stun.Class.REQUEST, USERNAME="node:browser", PRIORITY=1234)
    assert stun_username(data) == "node:browser"
    assert not stun_is_response(data)


def test_a_username_after_other_attributes_and_padding_is_found() -> None:
    data = binding(stun.Class.REQUEST, PRIORITY=7, SOFTWARE="abc", USERNAME="a1b2:c3")
    assert stun_username(data) == "a1b2:c3"


def test_responses_carry_no_username() -> None:
    data = binding(stun.Class.RESPONSE, **{"XOR-MAPPED-ADDRESS": ("192.0.2.1", 4000)})
    assert stun_username(data) is None
    assert stun_is_response(data)
    assert stun_is_response(binding(stun.Class.ERROR, **{"ERROR-CODE": (401, "no")}))


def test_not_stun_has_no_username() -> None:
    assert stun_username(b"") is None
    assert stun_username(b"\x00\x01" + bytes(18)) is None  # no magic cookie
    request = binding(stun.Class.REQUEST, USERNAME="x:y")
    assert stun_username(request[:-3]) is None  # shorter than its header says


@given(st.binary(max_size=200))
def test_any_bytes_give_a_username_or_none(data: bytes) -> None:
    result = stun_username(data)
    assert result is None or isinstance(result, str)
