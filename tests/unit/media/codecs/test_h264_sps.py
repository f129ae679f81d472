"""The picture size an H.264 sequence parameter set gives (media/codecs/h264.py, H.264
§7.3.2.1.1): SPS NAL units that libx264 wrote (``ffmpeg -c:v libx264 ... -f h264``, the first NAL
unit of each stream) for sizes that need cropping (180, 1080, 854 are not multiples of 16),
baseline, main, high and high 4:4:4 profiles and an interlaced picture; in a STAP-A as browsers
send it; emulation-prevention bytes; and any bytes at all never raise."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liveloop_sfu.media.codecs.h264 import _Bits, keyframe_size, sps_size

SPS = {
    # (width, height): libx264's SPS, hex
    (320, 180): "6742c00dd901419f9f0110000003001000000303c0f142a480",  # baseline, cropped
    (640, 480): "6742c01ed900a03db0110000030001000003003c0f162e48",  # baseline
    (854, 480): "674d401feca06c1ef3780880000003008000001e078c18cb",  # main, cropped width
    (1920, 1080): "67640028acd940780227e5c044000003000400000300f03c60c658",  # high, cropped
    (640, 360): "67f4001e919b281405ff138088000003000800000301e078b16cb0",  # high 4:4:4
    (720, 576): "6764001eacd940b424d8088000000300800000190f8a14cb",  # interlaced (field pairs)
}
PPS = bytes.fromhex("68ebe3cb22c0")


@pytest.mark.parametrize(("size", "sps"), list(SPS.items()))
def test_the_size_of_a_single_sps(size: tuple[int, int], sps: str) -> None:
    data = bytes.fromhex(sps)
    assert sps_size(data, 0, len(data)) == size
    assert keyframe_size(data, 0, len(data)) == size


@pytest.mark.parametrize(("size", "sps"), list(SPS.items()))
def test_the_size_of_an_sps_in_a_stap_a(size: tuple[int, int], sps: str) -> None:
    nal = bytes.fromhex(sps)
    # RFC 6184 §5.7.1: STAP-A header (F=0, NRI=3, type 24), then each NAL unit after its size;
    # the payload sits inside a larger buffer, as in an RTP packet.
    stap = bytes([0x78]) + len(nal).to_bytes(2, "big") + nal + len(PPS).to_bytes(2, "big") + PPS
    packet = b"\x80" * 12 + stap
    assert keyframe_size(packet, 12, len(packet)) == size
    # PPS first, then the SPS: still found.
    stap = bytes([0x78]) + len(PPS).to_bytes(2, "big") + PPS + len(nal).to_bytes(2, "big") + nal
    assert keyframe_size(stap, 0, len(stap)) == size


def test_no_sps_no_size() -> None:
    idr = bytes([0x65, 0x88, 0x84, 0x00, 0x33])  # an IDR slice: a keyframe, but no size in it
    assert keyframe_size(idr, 0, len(idr)) == (0, 0)
    fu_a = bytes([0x7C, 0x85, 0x88, 0x84])
    assert keyframe_size(fu_a, 0, len(fu_a)) == (0, 0)
    stap = bytes([0x78]) + len(PPS).to_bytes(2, "big") + PPS
    assert keyframe_size(stap, 0, len(stap)) == (0, 0)


def test_a_truncated_or_broken_sps_has_no_size() -> None:
    data = bytes.fromhex(SPS[(1920, 1080)])
    # Cut short anywhere before the cropping offsets end: no size; from there on, the size (the
    # VUI after it is not read).
    sizes = [sps_size(data, 0, cut) for cut in range(len(data) + 1)]
    enough = sizes.index((1920, 1080))
    assert enough >= 9 and set(sizes[:enough]) == {(0, 0)}
    assert set(sizes[enough:]) == {(1920, 1080)}
    stap = bytes([0x78, 0x00, 0x40]) + data  # a size beyond the packet
    assert keyframe_size(stap, 0, len(stap)) == (0, 0)
    zeros = bytes([0x67, 0x42, 0xC0, 0x1E]) + bytes(40)  # exp-Golomb codes that never end
    assert sps_size(zeros, 0, len(zeros)) == (0, 0)


class BitWriter:
    """Writes an SPS's RBSP (ue/se as §9.1), then the NAL unit with emulation prevention."""

    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, n: int, value: int) -> None:
        self.bits += [(value >> (n - 1 - i)) & 1 for i in range(n)]

    def ue(self, value: int) -> None:
        code = value + 1
        self.u(code.bit_length() - 1, 0)
        self.u(code.bit_length(), code)

    def nal(self) -> bytes:
        bits = self.bits + [1] + [0] * (-(len(self.bits) + 1) % 8)  # rbsp_trailing_bits
        rbsp = bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))
        out = bytearray([0x67])
        zeros = 0
        for byte in rbsp:  # §7.4.1: 00 00 followed by 00-03 gets a 03 in between
            if zeros >= 2 and byte <= 3:
                out.append(3)
                zeros = 0
            out.append(byte)
            zeros = zeros + 1 if byte == 0 else 0
        return bytes(out)


def baseline_sps(width_mbs: int, height_mbs: int, level: int = 30) -> bytes:
    w = BitWriter()
    w.u(8, 66)  # profile_idc: baseline
    w.u(8, 0)  # constraint flags
    w.u(8, level)
    w.ue(0)  # seq_parameter_set_id
    w.ue(0)  # log2_max_frame_num_minus4
    w.ue(2)  # pic_order_cnt_type
    w.ue(1)  # max_num_ref_frames
    w.u(1, 0)  # gaps_in_frame_num_value_allowed_flag
    w.ue(width_mbs - 1)
    w.ue(height_mbs - 1)
    w.u(1, 1)  # frame_mbs_only_flag
    w.u(1, 1)  # direct_8x8_inference_flag
    w.u(1, 0)  # frame_cropping_flag
    w.u(1, 0)  # vui_parameters_present_flag
    return w.nal()


def test_emulation_prevention_bytes_are_not_read() -> None:
    # §7.4.1: in 00 00 03 xx the 03 was added by the writer; 00 00 03 03 keeps the second 03,
    # and a 03 after a single 00 is data.
    data = bytes([0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x03, 0x03, 0x00, 0x03, 0xFF])
    bits = _Bits(data, 0, len(data))
    assert [bits.bits(8) for _ in range(8)] == [0, 0, 1, 0, 0, 3, 0, 3]
    with pytest.raises(ValueError, match="truncated"):
        bits.bits(9)


@given(st.integers(1, 1024), st.integers(1, 1024))
def test_any_size_written_is_read(width_mbs: int, height_mbs: int) -> None:
    nal = baseline_sps(width_mbs, height_mbs)
    assert sps_size(nal, 0, len(nal)) == (width_mbs * 16, height_mbs * 16)


@given(st.binary(max_size=64))
def test_any_bytes_never_raise(data: bytes) -> None:
    width, height = keyframe_size(data, 0, len(data))
    assert (width, height) == (0, 0) or (0 < width <= 16384 and 0 < height <= 16384)
    sps = bytes([0x67]) + data
    width, height = sps_size(sps, 0, len(sps))
    assert (width, height) == (0, 0) or (0 < width <= 16384 and 0 < height <= 16384)
