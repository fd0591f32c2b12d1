"""SignBridge: sign-language videos to captioned, voiced videos and landmark datasets."""

__version__ = "0.1.0"
