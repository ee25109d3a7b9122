"""A real DICOM server for the clinic-systems tests: Orthanc (Debian package ``orthanc``) with
its ModalityWorklists plugin, started on free loopback ports with a throw-away configuration,
storage folder and worklist folder, and read back through its REST API (urllib, localhost).

Without Orthanc the tests that need it skip with a clear message, except in CI (``CI`` set),
where a missing Orthanc fails them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ORTHANC_CANDIDATES = ("Orthanc", "/usr/sbin/Orthanc", "/usr/bin/Orthanc")
WORKLIST_PLUGIN_CANDIDATES = ("/usr/share/orthanc/plugins/libModalityWorklists.so",
                              "/usr/lib/orthanc/libModalityWorklists.so")
OUR_AE = "RETINA_SCREEN"


def _orthanc_binary() -> str | None:
    for candidate in ORTHANC_CANDIDATES:
        found = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
        if found:
            return found
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Orthanc:
    http_port: int
    dicom_port: int
    aet: str
    worklists: Path
    log: Path

    def get(self, path: str) -> object:
        url = f"http://127.0.0.1:{self.http_port}{path}"
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - localhost
            data = response.read()
        return json.loads(data) if data[:1] in (b"{", b"[") else data

    def delete_all(self) -> None:
        for patient in self.get("/patients"):
            request = urllib.request.Request(
                f"http://127.0.0.1:{self.http_port}/patients/{patient}", method="DELETE")
            with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - localhost
                pass

    def instances(self) -> list[str]:
        return list(self.get("/instances"))

    def settings(self) -> dict[str, str]:
        """Environment variables pointing retina-screen's PACS and worklist at this server."""
        return {"RETINA_SCREEN_PACS_HOST": "127.0.0.1",
                "RETINA_SCREEN_PACS_PORT": str(self.dicom_port),
                "RETINA_SCREEN_PACS_AE_TITLE": self.aet,
                "RETINA_SCREEN_WORKLIST_HOST": "127.0.0.1",
                "RETINA_SCREEN_WORKLIST_PORT": str(self.dicom_port),
                "RETINA_SCREEN_WORKLIST_AE_TITLE": self.aet}


def _start(home: Path, extra: dict | None = None) -> Iterator[Orthanc]:
    binary = _orthanc_binary()
    if binary is None:
        message = ("Orthanc is not installed (Debian: apt-get install -y orthanc); the DICOM "
                   "server tests need a real one")
        if os.environ.get("CI"):
            pytest.fail(message + " and CI is set")
        pytest.skip(message)
    storage, worklists = home / "storage", home / "worklists"
    storage.mkdir()
    worklists.mkdir()
    http_port, dicom_port = _free_port(), _free_port()
    plugins = [p for p in WORKLIST_PLUGIN_CANDIDATES if Path(p).is_file()][:1]
    config = {
        "Name": "retina-screen-test", "StorageDirectory": str(storage),
        "IndexDirectory": str(storage), "StorageCompression": False,
        "HttpServerEnabled": True, "HttpPort": http_port, "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False, "SslEnabled": False,
        "DicomServerEnabled": True, "DicomAet": "ORTHANC", "DicomPort": dicom_port,
        "DicomCheckCalledAet": True, "DicomAlwaysAllowStore": False,
        "DicomAlwaysAllowFind": False, "DicomAlwaysAllowEcho": False,
        "UnknownSopClassAccepted": False,
        "DicomModalities": {"retina": [OUR_AE, "127.0.0.1", _free_port()]},
        "Plugins": plugins,
        "Worklists": {"Enable": True, "Database": str(worklists)},
        "ConcurrentJobs": 1, "HttpThreadsCount": 4, "DefaultEncoding": "Utf8",
        **(extra or {}),
    }
    config_path = home / "orthanc.json"
    config_path.write_text(json.dumps(config, indent=2))
    log = home / "orthanc.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen([binary, str(config_path)], stdout=log_file,
                                   stderr=subprocess.STDOUT, cwd=home)
    server = Orthanc(http_port, dicom_port, "ORTHANC", worklists, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                server.get("/system")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"Orthanc did not start: {log.read_text(errors='replace')[-3000:]}")
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    yield from _start(tmp_path_factory.mktemp("orthanc"))


@pytest.fixture(scope="session")
def orthanc_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Orthanc, Path]]:
    """An Orthanc that speaks DICOM only over TLS, with a self-signed certificate for
    127.0.0.1 (returned too: the CA file a client must trust)."""
    home = tmp_path_factory.mktemp("orthanc-tls")
    cert, key = home / "server.pem", home / "server.key"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        pytest.fail(f"openssl could not make a test certificate: {made.stderr[-2000:]}")
    yield from ((server, cert) for server in _start(home, {
        "DicomTlsEnabled": True, "DicomTlsCertificate": str(cert),
        "DicomTlsPrivateKey": str(key), "DicomTlsTrustedCertificates": str(cert),
        "DicomTlsRemoteCertificateRequired": False}))
