"""Build the frozen one-folder application: ``python packaging/build.py``.

Runs PyInstaller on ``packaging/retina_screen.spec`` (``dist/retina-screen/`` with the
``retina-screen`` and ``retina-screen-gui`` executables), checks the result (resources present,
no torch/scipy/unused Qt, ``--version`` and ``model info`` run), then per platform:

- Linux: adds a desktop entry, its icon and ``install-desktop.sh``, strips the interpreter's
  own debug symbols, and writes ``dist/retina-screen-<version>-linux-<arch>.tar.gz``.
- Windows (not tried here): runs Inno Setup's ``iscc`` on ``packaging/windows/retina-screen.iss``.
- macOS (not tried here): the spec also makes ``dist/Retina Screen.app``; packed into a .dmg.

Options: ``--dist DIR --work DIR`` (default ``dist/`` and ``build/pyinstaller/``), ``--no-archive``,
``--clean`` (empty PyInstaller's cache first), ``--verbose``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SPEC = HERE / "retina_screen.spec"


def _load_config() -> ModuleType:
    spec = importlib.util.spec_from_file_location("freeze_config", HERE / "freeze_config.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fc = _load_config()


def say(text: str) -> None:
    """The build script's own progress output."""
    print(text, flush=True)


def mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB ({size / 2**20:.1f} MiB)"


def run_pyinstaller(dist: Path, work: Path, clean: bool, verbose: bool) -> None:
    """Run PyInstaller on the spec; its full output goes to ``work/pyinstaller.log``."""
    work.mkdir(parents=True, exist_ok=True)
    log_path = work / "pyinstaller.log"
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm",
               "--log-level", "INFO" if verbose else "WARN",
               "--distpath", str(dist), "--workpath", str(work), str(SPEC)]
    if clean:
        command.insert(3, "--clean")
    say(f"PyInstaller {SPEC.relative_to(ROOT)} -> {dist} (log: {log_path})")
    with open(log_path, "w", encoding="utf-8") as log_file:
        # cwd outside the checkout: a setuptools .egg-info there would shadow the installed
        # .dist-info that copy_metadata should copy.
        process = subprocess.run(command, cwd=work, stdout=log_file, stderr=subprocess.STDOUT,
                                 check=False)
    output = log_path.read_text(encoding="utf-8", errors="replace")
    if verbose:
        say(output)
    if process.returncode != 0:
        say("\n".join(output.splitlines()[-40:]))
        raise SystemExit(f"PyInstaller failed (exit {process.returncode}); see {log_path}")
    missing = sorted(set(re.findall(r"could not resolve '([^']+)'", output)))
    if missing:
        say("WARNING: libraries not found on this build machine, so not bundled; the GUI needs "
            f"them on the target: {', '.join(missing)}\n  (Debian/Ubuntu: apt-get install "
            "libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 ..., then rebuild)")
    for line in output.splitlines():
        if "WARNING:" in line and "could not resolve" not in line and "Ignoring icon" not in line:
            say("  " + line.split("WARNING:", 1)[1].strip())


def strip_interpreter(bundle: Path) -> int:
    """Strip debug symbols from the Python interpreter's own libraries; returns bytes saved.

    Only libpython and lib-dynload: wheel libraries were rewritten by auditwheel/patchelf, and
    stripping those can corrupt them.
    """
    strip = shutil.which("strip")
    if strip is None or not sys.platform.startswith("linux"):
        return 0
    base = fc.contents_dir(bundle)
    targets = [p for p in base.glob("libpython3*.so*") if p.is_file() and not p.is_symlink()]
    targets += [p for p in base.glob("python3*/lib-dynload/*.so") if not p.is_symlink()]
    before = sum(p.stat().st_size for p in targets)
    for path in targets:
        subprocess.run([strip, "--strip-unneeded", str(path)], check=True)
    return before - sum(p.stat().st_size for p in targets)


def add_linux_desktop_entry(bundle: Path, version: str) -> None:
    """Desktop entry, icon and the per-user/system installer script at the bundle's top."""
    template = (HERE / "linux" / "retina-screen.desktop").read_text(encoding="utf-8")
    desktop = template.replace("@VERSION@", version)
    (bundle / "retina-screen.desktop").write_text(desktop, encoding="utf-8")
    icon = fc.ICON_PNG if fc.ICON_PNG.is_file() else HERE / "linux" / "retina-screen.png"
    shutil.copy2(icon, bundle / "retina-screen.png")
    script = bundle / "install-desktop.sh"
    shutil.copy2(HERE / "linux" / "install-desktop.sh", script)
    script.chmod(0o755)


def check_bundle(bundle: Path, version: str) -> None:
    """Fail the build on missing resources, forbidden contents or a broken executable."""
    problems = fc.bundle_problems(bundle)
    exe = bundle / (fc.CLI_NAME + (".exe" if sys.platform == "win32" else ""))
    with tempfile.TemporaryDirectory(prefix="retina-screen-build-") as home:
        env = dict(os.environ, XDG_DATA_HOME=str(Path(home) / "data"),
                   XDG_CONFIG_HOME=str(Path(home) / "config"), LOCALAPPDATA=home, APPDATA=home)
        env = {k: v for k, v in env.items() if not k.startswith("RETINA_SCREEN_")}
        for args, expect in (["--version"], f"retina-screen {version}"), (["model", "info"],
                                                                           "(verified)"):
            result = subprocess.run([str(exe), *args], capture_output=True, text=True, env=env,
                                    timeout=120, check=False)
            if result.returncode != 0 or expect not in result.stdout:
                problems.append(f"`retina-screen {' '.join(args)}` failed (exit "
                                f"{result.returncode}): {result.stdout}{result.stderr}".strip())
    if problems:
        raise SystemExit("The frozen application is not right:\n  - " + "\n  - ".join(problems))


def make_tarball(bundle: Path, version: str) -> Path:
    """``retina-screen-<version>-linux-<arch>.tar.gz`` holding ``retina-screen-<version>/``."""
    target = bundle.parent / f"{fc.DIST_NAME}-{version}-linux-{platform.machine()}.tar.gz"

    def owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    partial = target.with_name(target.name + ".part")
    with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
        tar.add(bundle, arcname=f"{fc.DIST_NAME}-{version}", filter=owner)
    partial.replace(target)
    return target


def make_windows_installer(dist: Path, bundle: Path, version: str, work: Path) -> Path | None:
    """Run Inno Setup (``iscc``) if installed; otherwise print the command. Untested."""
    script = HERE / "windows" / "retina-screen.iss"
    icon = work / "retina-screen.ico"
    try:
        from PIL import Image

        with Image.open(fc.ICON_PNG) as image:
            image.save(icon, sizes=[(16, 16), (32, 32), (48, 48), (64, 64), (128, 128),
                                    (256, 256)])
    except (ImportError, OSError):
        icon = None
    command = ["iscc", f"/DAppVersion={version}", f"/DSourceDir={bundle}", f"/DOutputDir={dist}"]
    command += [f"/DIconFile={icon}"] if icon else []
    command.append(str(script))
    iscc = shutil.which("iscc") or shutil.which("ISCC")
    if iscc is None:
        say("Inno Setup not found; to make the installer run:\n  " + " ".join(command))
        return None
    subprocess.run([iscc, *command[1:]], check=True)
    return dist / f"{fc.DIST_NAME}-{version}-windows-x64-setup.exe"


def make_dmg(dist: Path, version: str) -> Path | None:
    """Pack ``Retina Screen.app`` into a compressed disk image with hdiutil. Untested."""
    app = dist / f"{fc.APP_TITLE}.app"
    hdiutil = shutil.which("hdiutil")
    if hdiutil is None or not app.is_dir():
        return None
    target = dist / f"{fc.DIST_NAME}-{version}-macos-{platform.machine()}.dmg"
    subprocess.run([hdiutil, "create", "-volname", fc.APP_TITLE, "-srcfolder", str(app), "-ov",
                    "-format", "UDZO", str(target)], check=True)
    return target


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller",
                        help="PyInstaller's work folder")
    parser.add_argument("--no-archive", action="store_true",
                        help="skip the .tar.gz / installer / .dmg")
    parser.add_argument("--clean", action="store_true", help="empty PyInstaller's cache first")
    parser.add_argument("--verbose", action="store_true", help="show PyInstaller's output")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    dist, work = args.dist.resolve(), args.work.resolve()
    started = time.monotonic()
    version = fc.project_version()
    say(f"Building retina-screen {version} on {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}")
    run_pyinstaller(dist, work, args.clean, args.verbose)
    bundle = dist / fc.DIST_NAME
    frozen_s = time.monotonic() - started
    saved = strip_interpreter(bundle)
    if saved:
        say(f"Stripped the interpreter's debug symbols: {mb(saved)} saved")
    if sys.platform.startswith("linux"):
        add_linux_desktop_entry(bundle, version)
    check_bundle(bundle, version)
    say(f"Bundle: {bundle} (PyInstaller {frozen_s:.0f} s)")
    if sys.platform.startswith("linux"):
        glibc = fc.glibc_required(bundle)
        if glibc:
            say(f"Runs on Linux with glibc >= {glibc} (that of the build machine's libraries)")
    say(f"Unpacked size: {mb(fc.tree_size(bundle))}; largest parts:")
    for name, size in fc.largest_parts(bundle):
        say(f"  {size / 1e6:7.1f} MB  {name}")
    if not args.no_archive:
        package: Path | None = None
        if sys.platform.startswith("linux"):
            package = make_tarball(bundle, version)
        elif sys.platform == "win32":
            package = make_windows_installer(dist, bundle, version, work)
        elif sys.platform == "darwin":
            package = make_dmg(dist, version)
        if package is not None:
            say(f"Package: {package} ({mb(package.stat().st_size)})")
    say(f"Done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
