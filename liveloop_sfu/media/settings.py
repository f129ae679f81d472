"""What the media plane needs from the operator's configuration, in one frozen object: the
``media`` subtree of the settings, declared (flags, defaults, validation) in
``liveloop_sfu/config/media.py``. The media plane never reads the command line or environment."""

from liveloop_sfu.config.media import MediaSettings

__all__ = ["MediaSettings"]
