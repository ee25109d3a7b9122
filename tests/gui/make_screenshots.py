"""Take the README screenshots from the running application (offscreen).

    python tests/gui/make_screenshots.py [--out docs]

Both at 1366x768, the window filling the screen. docs/screenshot_patient.png: a patient
screened from two real srahim_dev photographs, heatmap on. docs/screenshot_batch.png: the batch
view after screening a folder of real photographs. Both are reduced to a 256-colour palette
when needed to stay small (well under 400 KB).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("RETINA_SCREEN_DATA", ROOT.parent / "shared" / "data"))
SIZE = (1366, 768)  # a common clinic laptop screen, the window filling it
MAX_BYTES = 380 * 1024
BATCH_PATIENTS = ("Patient006", "Patient008", "Patient013", "Patient016", "Patient017",
                  "Patient033", "Patient036", "Patient044", "Patient049", "Patient058")


def save_small(image, path: Path) -> None:  # noqa: ANN001
    """Save a QImage as PNG: full colour if that is small enough, else a 256-colour palette."""
    from PIL import Image

    temporary = path.with_suffix(".full.png")
    image.save(str(temporary))
    with Image.open(temporary) as full:
        full.convert("RGB").save(path, optimize=True)
        if path.stat().st_size > MAX_BYTES:
            small = full.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE,
                                                 dither=Image.Dither.FLOYDSTEINBERG)
            small.save(path, optimize=True)
    temporary.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="retina-screen-shots-"))
    screen = tmp / "screen.json"
    screen.write_text(json.dumps({"screens": [{"name": "s", "x": 0, "y": 0, "width": SIZE[0],
                                               "height": SIZE[1], "logicalDpi": 96, "dpr": 1}]}))
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={screen}"
    os.environ.update(XDG_CONFIG_HOME=str(tmp / "config"), XDG_DATA_HOME=str(tmp / "data"))
    sys.path.insert(0, str(ROOT))

    from gui_helpers import wait_until
    from PySide6.QtWidgets import QApplication

    from retina_screen.gui.icons import app_icon
    from retina_screen.gui.main_window import MainWindow
    from retina_screen.gui.prefs import Preferences
    from retina_screen.gui.style import apply_style
    from retina_screen.results import Eye
    from retina_screen.settings import load_settings

    app = QApplication([sys.argv[0]])
    app.setWindowIcon(app_icon())
    apply_style(app)

    prefs = Preferences(tmp / "gui.ini")
    prefs.store_settings({"clinic_name": "Riverside Diabetes Clinic", "operator": "A. Nurse",
                          "output_dir": str(tmp / "out")})
    settings = load_settings(overrides={"output_dir": tmp / "out", "log_dir": tmp / "logs",
                                        "audit_db": tmp / "audit.sqlite"},
                             use_environment=False, use_file=False)
    window = MainWindow(prefs, settings)
    window.show()
    window.setGeometry(0, 0, *SIZE)
    wait_until(lambda: window.screener is not None)
    page = window.patient_page
    page.confirm_discard = lambda *_quitting: True

    images = DATA / "srahim_dev" / "images"
    page.form.patient_id.setText("SR-013")
    page.form.name.setText("Jane Example")
    page.form.birth_date.setText("1961-04-17")
    page.form.diabetes.setCurrentIndex(2)
    page.form.changed.emit()
    page.add_photos([images / "Patient013_R.jpg"], Eye.RIGHT)
    page.add_photos([images / "Patient013_L.jpg"], Eye.LEFT)
    wait_until(lambda: page.session.result is not None and not page.session.pending)
    page.select_photo(next(iter(page.session.photos)))
    page.heatmap_action.trigger()
    wait_until(lambda: True, 300)
    args.out.mkdir(parents=True, exist_ok=True)
    save_small(window.grab().toImage(), args.out / "screenshot_patient.png")

    camera = tmp / "camera"
    camera.mkdir()
    for patient in BATCH_PATIENTS:
        for eye in "RL":
            shutil.copy(images / f"{patient}_{eye}.jpg", camera)
    page.new_patient(force=True)
    batch = window.batch_page
    window.show_page(batch)
    batch.input_dir.setText(str(camera))
    batch.output_dir.setText(str(tmp / "out" / "batch-2026-11-26"))
    finished = []
    batch.runFinished.connect(lambda *a: finished.append(a))
    batch.start()
    wait_until(lambda: bool(finished))
    batch.input_dir.setText("/home/clinic/CameraExport")
    batch.output_dir.setText("/home/clinic/retina-screen-results/batch-2026-11-26")
    batch.table.selectRow(2)
    wait_until(lambda: True, 300)
    save_small(window.grab().toImage(), args.out / "screenshot_batch.png")
    window.close()
    shutil.rmtree(tmp, ignore_errors=True)
    for name in ("screenshot_patient.png", "screenshot_batch.png"):
        print(f"{args.out / name}: {(args.out / name).stat().st_size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
