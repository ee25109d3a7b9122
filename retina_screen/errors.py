"""Exceptions with messages an operator can act on.

Every error the application raises on purpose derives from :class:`RetinaScreenError`; its
``str()`` is one line of plain language, safe to show in the GUI and to log (no patient data).
"""

from __future__ import annotations


class RetinaScreenError(Exception):
    """Base class: something the operator can understand and usually fix."""


class ImageLoadError(RetinaScreenError):
    """A file could not be read as a photograph (unreadable, truncated, not an image, ...)."""


class ModelError(RetinaScreenError):
    """The grading model is missing, damaged, modified, or does not match its manifest."""


class OutputError(RetinaScreenError):
    """Results or reports could not be written (disk full, permission denied, locked, ...)."""


class OutputLockedError(OutputError):
    """Another screening run is already writing to the same output folder."""


class OtherInputFolderError(OutputError):
    """The output folder holds results of another input folder (continue only on purpose)."""


class ConfigError(RetinaScreenError):
    """A setting, pattern or referral table is invalid."""


class AuditError(RetinaScreenError):
    """The audit trail is missing, unreadable, or fails verification."""
