"""The server's version string."""

from importlib import metadata

try:
    VERSION = metadata.version("strata")
except metadata.PackageNotFoundError:  # running from a source tree without installing
    VERSION = "0.0.0+source"
