"""Work around a reference-counting defect of PySide6 6.12 on Python 3.11.

PySide6 6.12.0 returns ``None`` from every void method (``setText``, ``setEnabled``,
``processEvents`` ...) and ``True`` from ``Signal.emit`` without taking a new reference. On
Python 3.12 and later these objects are immortal (PEP 683), so nothing happens; on Python 3.11
each call lowers their reference count by one, and after a few thousand calls the interpreter
aborts with "Fatal Python error: none_dealloc" (measured here: about 5,000 calls after start-up).
A screening session or a batch run makes far more calls than that.

The defence: give ``None``, ``True`` and ``False`` a very large extra reference count once, at
import, which makes them effectively immortal as on Python 3.12. It only applies to the affected
combination, and only changes a counter of objects that are never freed anyway. Pinning
PySide6-Essentials below 6.12 on Python 3.11 (or using Python 3.12+) avoids the defect too.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

#: Extra references given once: more void calls than a process can make in years.
_EXTRA_REFERENCES = 1 << 40
_applied = False


def _pyside_version() -> tuple[int, ...]:
    try:
        import PySide6
    except ImportError:
        return ()
    parts = []
    for piece in str(getattr(PySide6, "__version__", "0")).split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def needs_workaround() -> bool:
    return sys.version_info < (3, 12) and _pyside_version() >= (6, 12)


def protect_singletons() -> bool:
    """Make None/True/False effectively immortal where PySide6 leaks references to them."""
    global _applied
    if _applied or not needs_workaround() or sys.implementation.name != "cpython":
        return _applied
    for singleton in (None, True, False):
        refcount = ctypes.c_ssize_t.from_address(id(singleton))
        refcount.value += _EXTRA_REFERENCES
    _applied = True
    log.debug("PySide6 %s on Python %s: None/True/False protected against reference leaks",
              ".".join(map(str, _pyside_version())), sys.version.split()[0])
    return True
