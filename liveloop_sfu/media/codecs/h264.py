"""H.264 on RTP (RFC 6184): whether a packet begins a keyframe, and the picture size its
sequence parameter set gives.

A single NAL unit of type 5 (IDR slice) or 7 (SPS), a STAP-A (24) aggregating one of those, or
the start fragment (S=1) of an FU-A (28) carrying one (§5.6–5.8). Browsers send the SPS with
every IDR (libwebrtc: in a STAP-A with the PPS, or alone), so the SPS tells each simulcast
layer's size as a VP8 keyframe's header does (:func:`.vp8.keyframe_size`): the allocation caps
a subscriber's layer at the height it asked for (``set-video-quality``).
"""

from __future__ import annotations

__all__ = ["FU_A", "NAL_IDR", "NAL_SPS", "STAP_A", "is_h264_keyframe", "keyframe_size", "sps_size"]

NAL_IDR = 5  # coded slice of an IDR picture (H.264 Table 7-1)
NAL_SPS = 7  # sequence parameter set
STAP_A = 24  # RFC 6184 §5.7.1 single-time aggregation packet
FU_A = 28  # RFC 6184 §5.8 fragmentation unit


def is_h264_keyframe(data: bytes, start: int, end: int) -> bool:
    """RFC 6184: single NAL IDR/SPS, STAP-A containing one, or an FU-A start of an IDR."""
    if end - start < 1:
        return False
    nal_type = data[start] & 0x1F
    if nal_type in (NAL_IDR, NAL_SPS):
        return True
    if nal_type == STAP_A:
        # §5.7.1: after the STAP-A header, NAL units prefixed by a 16-bit size.
        i = start + 1
        while i + 2 < end:
            size = (data[i] << 8) | data[i + 1]
            if size == 0 or i + 2 + size > end:
                return False
            if data[i + 2] & 0x1F in (NAL_IDR, NAL_SPS):
                return True
            i += 2 + size
        return False
    if nal_type == FU_A:
        # §5.8: FU header = S E R Type; only the start fragment begins the NAL unit.
        if end - start < 2:
            return False
        fu = data[start + 1]
        return bool(fu & 0x80) and fu & 0x1F in (NAL_IDR, NAL_SPS)
    return False


def keyframe_size(data: bytes, start: int, end: int) -> tuple[int, int]:
    """``(width, height)`` of the picture from the SPS that the packet ``data[start:end]``
    (the RTP payload) carries, alone or in a STAP-A; ``(0, 0)`` when it carries none or one that
    cannot be read (the size then stays unknown: it caps nothing)."""
    if end - start < 2:
        return (0, 0)
    nal_type = data[start] & 0x1F
    if nal_type == NAL_SPS:
        return sps_size(data, start, end)
    if nal_type == STAP_A:
        i = start + 1
        while i + 2 < end:
            size = (data[i] << 8) | data[i + 1]
            if size == 0 or i + 2 + size > end:
                return (0, 0)
            if data[i + 2] & 0x1F == NAL_SPS:
                return sps_size(data, i + 2, i + 2 + size)
            i += 2 + size
    return (0, 0)


# profile_idc values whose SPS carries chroma_format_idc and the bit depths (H.264 §7.3.2.1.1).
_HIGH_PROFILES = frozenset((100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135))
# More exp-Golomb leading zeros than any syntax element of an SPS can have: malformed.
_MAX_LEADING_ZEROS = 31


class _Bits:
    """The RBSP of one NAL unit read bit by bit (H.264 §7.2), emulation-prevention bytes (the
    0x03 in 00 00 03, §7.4.1) skipped. Reading past the end raises :class:`ValueError`."""

    def __init__(self, data: bytes, start: int, end: int) -> None:
        self._data = data
        self._end = end
        self._byte = start  # index of the byte being read
        self._bit = 0  # bits of it already read (0-7)
        self._zeros = 0  # 0x00 bytes just before self._byte

    def bit(self) -> int:
        if self._byte >= self._end:
            raise ValueError("SPS truncated")
        if self._bit == 0 and self._zeros >= 2 and self._data[self._byte] == 3:
            self._byte += 1  # emulation prevention: not part of the RBSP
            self._zeros = 0
            if self._byte >= self._end:
                raise ValueError("SPS truncated")
        value = (self._data[self._byte] >> (7 - self._bit)) & 1
        self._bit += 1
        if self._bit == 8:
            self._zeros = self._zeros + 1 if self._data[self._byte] == 0 else 0
            self._bit = 0
            self._byte += 1
        return value

    def bits(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        """ue(v), §9.1: unsigned exp-Golomb."""
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > _MAX_LEADING_ZEROS:
                raise ValueError("bad exp-Golomb code")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        """se(v), §9.1.1: signed exp-Golomb."""
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def sps_size(data: bytes, start: int, end: int) -> tuple[int, int]:
    """``(width, height)`` in pixels, after cropping, of the SPS NAL unit ``data[start:end]``
    (its one-byte NAL header first), H.264 §7.3.2.1.1 and §7.4.2.1.1; ``(0, 0)`` when it is
    malformed or not an SPS."""
    if end - start < 4 or data[start] & 0x1F != NAL_SPS:
        return (0, 0)
    try:
        return _read_sps(_Bits(data, start + 1, end))
    except ValueError:
        return (0, 0)


def _read_sps(r: _Bits) -> tuple[int, int]:
    profile_idc = r.bits(8)
    r.bits(16)  # constraint_set flags, reserved bits, level_idc
    r.ue()  # seq_parameter_set_id
    chroma_format_idc = 1  # 4:2:0 unless the profile says otherwise
    if profile_idc in _HIGH_PROFILES:
        chroma_format_idc = r.ue()
        if chroma_format_idc > 3:
            raise ValueError("bad chroma_format_idc")
        if chroma_format_idc == 3:
            r.bit()  # separate_colour_plane_flag
        r.ue()  # bit_depth_luma_minus8
        r.ue()  # bit_depth_chroma_minus8
        r.bit()  # qpprime_y_zero_transform_bypass_flag
        if r.bit():  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format_idc != 3 else 12):
                if r.bit():  # seq_scaling_list_present_flag[i]
                    _skip_scaling_list(r, 16 if i < 6 else 64)
    r.ue()  # log2_max_frame_num_minus4
    poc_type = r.ue()
    if poc_type == 0:
        r.ue()  # log2_max_pic_order_cnt_lsb_minus4
    elif poc_type == 1:
        r.bit()  # delta_pic_order_always_zero_flag
        r.se()  # offset_for_non_ref_pic
        r.se()  # offset_for_top_to_bottom_field
        cycle = r.ue()
        if cycle > 255:
            raise ValueError("bad num_ref_frames_in_pic_order_cnt_cycle")
        for _ in range(cycle):
            r.se()
    elif poc_type != 2:
        raise ValueError("bad pic_order_cnt_type")
    r.ue()  # max_num_ref_frames
    r.bit()  # gaps_in_frame_num_value_allowed_flag
    width_mbs = r.ue() + 1
    height_units = r.ue() + 1
    frame_mbs_only = r.bit()
    if not frame_mbs_only:
        r.bit()  # mb_adaptive_frame_field_flag
    r.bit()  # direct_8x8_inference_flag
    width = width_mbs * 16
    height = (2 - frame_mbs_only) * height_units * 16
    if r.bit():  # frame_cropping_flag: offsets in chroma units (Table 6-1, eq. 7-19 to 7-22)
        left, right, top, bottom = r.ue(), r.ue(), r.ue(), r.ue()
        sub_width = 2 if chroma_format_idc in (1, 2) else 1
        sub_height = 2 if chroma_format_idc == 1 else 1
        crop_x = 1 if chroma_format_idc == 0 else sub_width
        crop_y = (2 - frame_mbs_only) * (1 if chroma_format_idc == 0 else sub_height)
        width -= crop_x * (left + right)
        height -= crop_y * (top + bottom)
    if width <= 0 or height <= 0 or width > 16384 or height > 16384:
        raise ValueError("bad picture size")
    return (width, height)


def _skip_scaling_list(r: _Bits, size: int) -> None:
    """scaling_list() of §7.3.2.1.1.1: read, not kept."""
    last, following = 8, 8
    for _ in range(size):
        if following != 0:
            following = (last + r.se() + 256) % 256
        last = following if following != 0 else last
