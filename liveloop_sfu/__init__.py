"""Live Loop SFU: random and group video calls in the browser through a Python SFU."""

__version__ = "0.1.0"
