"""retina-screen: offline diabetic retinopathy screening of colour fundus photographs."""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("retina-screen")
except metadata.PackageNotFoundError:  # running from a source checkout that is not installed
    __version__ = "0+unknown"
