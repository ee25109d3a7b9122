"""TLS for the DICOM connections (setting ``dicom_tls``): the server's certificate is verified
against ``dicom_tls_ca`` (or the system's CAs) and its host name; a client certificate is
presented when ``dicom_tls_cert`` and ``dicom_tls_key`` are set."""

from __future__ import annotations

import ssl

from ..errors import ConfigError
from ..settings import Settings


def tls_args(settings: Settings, host: str) -> tuple[ssl.SSLContext, str] | None:
    """pynetdicom's ``tls_args`` for a connection to ``host``; None without ``dicom_tls``."""
    if not settings.dicom_tls:
        return None
    try:
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH,
            cafile=str(settings.dicom_tls_ca) if settings.dicom_tls_ca else None)
        if settings.dicom_tls_cert or settings.dicom_tls_key:
            if not (settings.dicom_tls_cert and settings.dicom_tls_key):
                raise ConfigError("dicom_tls_cert and dicom_tls_key must be set together")
            context.load_cert_chain(str(settings.dicom_tls_cert), str(settings.dicom_tls_key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"the DICOM TLS certificates cannot be used: "
                          f"{getattr(exc, 'strerror', None) or exc}") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context, host
