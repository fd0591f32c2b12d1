"""SignBridge: sign-language videos to captioned, voiced videos and landmark datasets."""
from importlib.metadata import PackageNotFoundError, version

try:  # one version, pyproject.toml's, read from the installed package's metadata
    __version__ = version("signbridge")
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"
