"""The patient screen: patient form, right/left eye photo slots, photo viewer and result panel."""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import (
    QT_TRANSLATE_NOOP,
    QEvent,
    QRegularExpression,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QPixmap,
    QRegularExpressionValidator,
)
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..batch import is_photograph_file
from ..loading import IMAGE_EXTENSIONS, UNREAD_PICTURE_EXTENSIONS, DicomInfo
from ..naming import safe_file_stem
from ..results import Eye, Outcome, PatientInfo, PatientResult, sex_code
from ..settings import Settings
from .i18n import engine_text
from .icons import NEUTRAL, OUTCOME_COLOURS, line_icon, outcome_icon, status_icon
from .image_view import ImageView, full_resolution_crop, rgb_to_qimage
from .messages import plain_message
from .session import PatientSession, Photo
from .settings_view import ask_identity, identity_missing
from .text import eye_name, eye_summary, image_verdict, outcome_title
from .workers import run_task

log = logging.getLogger(__name__)

HEATMAP_LEGEND = QT_TRANSLATE_NOOP("PatientPage", "Heatmap: areas that most influenced the "
                                                  "grade (brightest yellow = strongest). It is "
                                                  "not a map of lesions.")
PHOTO_FILTER = (f"Photographs ({' '.join('*' + e for e in sorted(IMAGE_EXTENSIONS))});;"
                "All files (*)")
DIABETES_TYPES = ("", "type 1", "type 2", "gestational", "other")
SEX_CODES = ("", "F", "M", "O")  # the sex combo box's items, as DICOM codes
EYE_SHORT = {Eye.RIGHT: QT_TRANSLATE_NOOP("ResultPanel", "Right (OD)"),
             Eye.LEFT: QT_TRANSLATE_NOOP("ResultPanel", "Left (OS)"),
             Eye.UNKNOWN: QT_TRANSLATE_NOOP("ResultPanel", "Eye not known")}
LEVEL_COLOURS = {"ok": "#2E7D32", "warning": "#8A5A00", "error": "#B3261E", "pending": NEUTRAL}


def local_files(urls: list) -> list[Path]:  # noqa: ANN001
    """Local files from dropped URLs; a dropped folder contributes the photos directly in it
    (and the pictures in formats not read, whose cards then say why)."""
    paths: list[Path] = []
    for url in urls:
        if not url.isLocalFile():
            continue
        path = Path(url.toLocalFile())
        if path.is_dir():
            # Pictures in formats not read come too: their cards say so (never left out silently).
            paths.extend(sorted(p for p in path.iterdir() if p.is_file() and (
                is_photograph_file(p) or p.suffix.lower() in UNREAD_PICTURE_EXTENSIONS)))
        else:
            paths.append(path)
    return paths


#: The patient screen's columns (form and photos, viewer, result) at the comfortable width.
SPLITTER_SIZES = (330, 620, 410)
LEFT_MIN_WIDTH, RESULT_MIN_WIDTH = 300, 320
#: The viewer's least share of a narrow window: the side columns give way down to their minimum.
VIEWER_SHARE = 0.4


def column_widths(total: int, left_min: int = LEFT_MIN_WIDTH,
                  result_min: int = RESULT_MIN_WIDTH) -> list[int]:
    """Widths of the three columns in ``total`` pixels: the comfortable ones where they fit;
    in a narrower window the side columns give way (down to their minimum, e.g. the width
    the report buttons' words need) before the viewer drops below :data:`VIEWER_SHARE`."""
    left, viewer, result = SPLITTER_SIZES
    result = max(result, result_min)
    if total >= left + viewer + result:
        return [left, total - left - result, result]
    sides = min(max(total * (1 - VIEWER_SHARE), left_min + result_min), left + result)
    left = max(left_min, round(sides * left / (left + result)))
    result = max(result_min, round(sides) - left)
    return [left, max(total - left - result, 0), result]


def tint(colour: str, alpha: int) -> str:
    """A translucent version of a ``#RRGGBB`` colour for style sheets."""
    red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red}, {green}, {blue}, {alpha})"


def make_folder(folder: Path) -> None:
    """Create the default folder of a Save dialog (else the dialog opens somewhere else)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        log.warning("could not create the default output folder")


def default_report_name(result: PatientResult) -> str:
    stem = safe_file_stem(result.patient.patient_id, fallback="patient")
    date = result.patient.screening_date or dt.date.today().isoformat()
    return f"{stem}_{date}_DR-screening.pdf"


#: DICOM AccessionNumber (SH): at most 16 characters.
ACCESSION_MAX = 16

class WrappedLabel(QLabel):
    """A word-wrapped label that asks its layout for the height its text needs at the width
    it has (Qt's scroll areas and nested layouts otherwise size it from a guessed width: long
    texts were cut off, short ones left empty space)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)

    def _needed(self) -> int:
        return self.heightForWidth(max(self.width(), 1))

    def sizeHint(self) -> QSize:  # noqa: N802
        hint = super().sizeHint()
        return QSize(hint.width(), self._needed()) if self.width() > 1 else hint

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        hint = super().minimumSizeHint()
        return QSize(hint.width(), self._needed()) if self.width() > 1 else hint

    def resizeEvent(self, event) -> None:  # noqa: ANN001,N802
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self.updateGeometry()

    def setText(self, text: str) -> None:  # noqa: N802
        super().setText(text)
        self.updateGeometry()


class ElidedLabel(QLabel):
    """A one-line label that shrinks with its column, eliding the middle of its text (the full
    text stays in the tooltip and the accessible name)."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(60)
        self.full_text = ""
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802
        self.full_text = text
        self.setToolTip(text)
        self.setAccessibleName(text)
        self._elide()

    def resizeEvent(self, event) -> None:  # noqa: ANN001,N802
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(self.contentsRect().width(), 10)
        super().setText(self.fontMetrics().elidedText(self.full_text,
                                                      Qt.TextElideMode.ElideMiddle, width))


class ViewerFrame(QFrame):
    """The photo viewer's card: in a narrow column the heatmap button shows its icon only."""

    NARROW = 380

    def __init__(self, heatmap_button: QToolButton, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.heatmap_button = heatmap_button

    def resizeEvent(self, event) -> None:  # noqa: ANN001,N802
        super().resizeEvent(event)
        style = (Qt.ToolButtonStyle.ToolButtonIconOnly if self.width() < self.NARROW
                 else Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        if self.heatmap_button.toolButtonStyle() != style:
            self.heatmap_button.setToolButtonStyle(style)


# ------------------------------------------------------------------------------------------------
class PatientForm(QFrame):
    """Patient ID, name, date of birth, sex, diabetes type and accession number."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.patient_id = QLineEdit()
        self.patient_id.setPlaceholderText(self.tr("e.g. hospital number"))
        self.patient_id.setAccessibleName(self.tr("Patient ID"))
        self.name = QLineEdit()
        self.name.setPlaceholderText(self.tr("Given name and family name"))
        self.name.setAccessibleName(self.tr("Patient name"))
        self.birth_date = QLineEdit()
        self.birth_date.setPlaceholderText(self.tr("YYYY-MM-DD"))
        self.birth_date.setAccessibleName(self.tr("Date of birth"))
        self.birth_date.setValidator(QRegularExpressionValidator(
            QRegularExpression(r"^\d{0,4}(-\d{0,2}(-\d{0,2})?)?$")))
        self.birth_date.setMaximumWidth(140)
        self.diabetes = QComboBox()
        self.diabetes.addItems([self.tr("not recorded"), self.tr("Type 1"), self.tr("Type 2"),
                                self.tr("Gestational"), self.tr("Other")])
        self.diabetes.setAccessibleName(self.tr("Diabetes type"))
        self.sex = QComboBox()
        self.sex.addItems([self.tr("not recorded"), self.tr("Female"), self.tr("Male"),
                           self.tr("Other")])
        self.sex.setAccessibleName(self.tr("Sex"))
        self.accession = QLineEdit()
        self.accession.setPlaceholderText(self.tr("e.g. from the worklist"))
        self.accession.setAccessibleName(self.tr("Accession number"))
        # Not cut to DICOM's 16 characters as typed: a pasted longer number was cut without a
        # word and the wrong number printed (found 2026-12-02); accession_problem() says so.

        title = QLabel(self.tr("Patient"))
        title.setObjectName("sectionTitle")
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for label, field in ((self.tr("&ID"), self.patient_id), (self.tr("&Name"), self.name),
                             (self.tr("&Date of birth"), self.birth_date),
                             (self.tr("Se&x"), self.sex),
                             (self.tr("Dia&betes"), self.diabetes),
                             (self.tr("&Accession no."), self.accession)):
            caption = QLabel(label)
            caption.setBuddy(field)
            form.addRow(caption, field)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 12)
        layout.addWidget(title)
        layout.addLayout(form)

        for edit in (self.patient_id, self.name, self.accession):
            edit.editingFinished.connect(self.changed)
        self.birth_date.editingFinished.connect(self.check_birth_date)
        for combo in (self.diabetes, self.sex):
            combo.currentIndexChanged.connect(lambda _i: self.changed.emit())

    def check_birth_date(self) -> None:
        self._mark_birth_date(not self.birth_date_problem())
        self.changed.emit()

    def valid_birth_date(self) -> str | None:
        text = self.birth_date.text().strip()
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return None
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            return None
        return text if day <= dt.date.today() else None

    def info(self) -> PatientInfo:
        return PatientInfo(
            patient_id=self.patient_id.text().strip(),
            name=self.name.text().strip(),
            birth_date=self.valid_birth_date() or "",
            diabetes_type=DIABETES_TYPES[self.diabetes.currentIndex()],
            sex=SEX_CODES[self.sex.currentIndex()],
            accession=self.accession.text().strip(),
        )

    def set_sex(self, code: str) -> None:
        """Select a DICOM sex code ("F", "M", "O"; anything else: not recorded)."""
        self.sex.setCurrentIndex(SEX_CODES.index(sex_code(code)))

    def prefill(self, dicom: DicomInfo) -> bool:
        """Fill empty fields from DICOM tags; True if anything was filled."""
        filled = False
        for edit, value in ((self.patient_id, dicom.patient_id), (self.name, dicom.patient_name),
                            (self.birth_date, dicom.birth_date),
                            (self.accession, dicom.accession)):
            if value and not edit.text().strip():
                edit.setText(value)
                filled = True
        if dicom.sex and self.sex.currentIndex() == 0:
            self.sex.blockSignals(True)
            self.set_sex(dicom.sex)
            self.sex.blockSignals(False)
            filled = True
        if filled:
            self.changed.emit()
        return filled

    def clear(self) -> None:
        for edit in (self.patient_id, self.name, self.birth_date, self.accession):
            edit.clear()
        self._mark_birth_date(True)
        self.diabetes.setCurrentIndex(0)
        self.sex.setCurrentIndex(0)

    def _mark_birth_date(self, valid: bool) -> None:
        self.birth_date.setProperty("invalid", not valid)
        self.birth_date.setToolTip("" if valid else self.tr("Enter a real date as YYYY-MM-DD, "
                                                            "not in the future"))
        self.birth_date.style().unpolish(self.birth_date)
        self.birth_date.style().polish(self.birth_date)
        self.birth_date.update()

    def accession_problem(self) -> str:
        """A message when the accession number is longer than DICOM allows, else ''."""
        text = self.accession.text().strip()
        if len(text) <= ACCESSION_MAX:
            return ""
        return self.tr("The accession number '{0}' has {1} characters; DICOM allows at most "
                       "{2}. Check it (a number pasted with more than it?).").format(
                           text, len(text), ACCESSION_MAX)

    def birth_date_problem(self) -> str:
        """A message when a date of birth was typed but is not a real past date, else ''."""
        text = self.birth_date.text().strip()
        if not text or self.valid_birth_date() is not None:
            return ""
        return self.tr("The date of birth '{0}' is not a valid date. Enter it as YYYY-MM-DD "
                       "(for example 1950-02-28) or leave it empty.").format(text)


# ------------------------------------------------------------------------------------------------
class PhotoCard(QFrame):
    """One photo in an eye slot: thumbnail, file name, quality verdict, grade, eye choice."""

    selected = Signal(int)
    eyeChosen = Signal(int, object)  # noqa: N815
    removeRequested = Signal(int)  # noqa: N815

    EYES = (Eye.RIGHT, Eye.LEFT, Eye.UNKNOWN)

    def __init__(self, photo: Photo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.photo_id = photo.id
        self.setObjectName("photoCard")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.thumb = QLabel()
        self.thumb.setFixedSize(72, 72)
        self.thumb.setObjectName("thumb")
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.icon = QLabel()
        self.icon.setFixedSize(18, 18)
        self.file_label = ElidedLabel()
        self.file_label.setObjectName("fileName")
        self.file_label.setTextFormat(Qt.TextFormat.PlainText)
        self.verdict = WrappedLabel()
        self.verdict.setTextFormat(Qt.TextFormat.RichText)
        self.verdict.setObjectName("verdict")
        self.eye_box = QComboBox()
        self.eye_box.addItems([self.tr("Right eye"), self.tr("Left eye"), self.tr("Eye not known")])
        self.eye_box.setAccessibleName(self.tr("Eye of this photograph"))
        self.eye_box.setToolTip(self.tr("Which eye this photograph shows"))
        self.eye_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.remove_button = QToolButton()
        self.remove_button.setIcon(line_icon("remove", "#5F6B7A"))
        self.remove_button.setAutoRaise(True)
        self.remove_button.setToolTip(self.tr("Remove this photograph"))
        self.remove_button.setAccessibleName(self.tr("Remove this photograph"))

        top = QHBoxLayout()
        top.setSpacing(6)
        top.addWidget(self.icon)
        top.addWidget(self.file_label, 1)
        top.addWidget(self.remove_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.eye_box)
        bottom.addStretch(1)
        text = QVBoxLayout()
        text.setSpacing(3)
        text.addLayout(top)
        text.addWidget(self.verdict)
        text.addLayout(bottom)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 8, 6, 8)
        layout.setSpacing(10)
        layout.addWidget(self.thumb, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(text, 1)

        self.eye_box.activated.connect(
            lambda index: self.eyeChosen.emit(self.photo_id, self.EYES[index]))
        self.remove_button.clicked.connect(lambda: self.removeRequested.emit(self.photo_id))
        self.update_from(photo)

    def update_from(self, photo: Photo, preview: np.ndarray | None = None,
                    unreadable: str = "") -> None:
        """Show ``photo``'s state. Not screened for want of a grading model: ``preview`` is
        its picture (a good file is not shown as a damaged one), ``unreadable`` why it could
        not even be read."""
        self.file_label.setText(photo.name)
        self.eye_box.setCurrentIndex(self.EYES.index(photo.eye))
        if photo.result is not None:
            level, text = image_verdict(photo.result)
        elif photo.no_model and unreadable:
            level, text = "error", self.tr("Not screened, and this file cannot be read: "
                                           "{0}").format(unreadable)
        elif photo.no_model:
            level, text = "warning", self.tr("Not screened: screening is unavailable because "
                                             "the grading model could not be loaded.")
        elif photo.error:
            level, text = "error", self.tr("Not screened: {0}").format(photo.error)
        else:
            level, text = "pending", self.tr("Checking quality…")
        self.level = level
        self.verdict_text = text
        lines = [html.escape(line) for line in text.split("\n")]
        colour = LEVEL_COLOURS[level]
        if level == "ok" and len(lines) > 1:
            grading = photo.result.grading if photo.result is not None else None
            grade_colour = (OUTCOME_COLOURS[Outcome.REFER] if grading is not None
                            and grading.referable else "#1F2933")
            # The grade and its probability in the grade's colour; what follows (the camera's
            # date, a copy mark) in the verdict's.
            body = (f"<span style='color:{colour}'>{lines[0]}</span><br>"
                    f"<span style='color:{grade_colour}'>{'<br>'.join(lines[1:3])}</span>"
                    + "".join(f"<br><span style='color:{colour}'>{line}</span>"
                              for line in lines[3:]))
        else:
            body = f"<span style='color:{colour}'>{'<br>'.join(lines)}</span>"
        self.verdict.setText(body)
        icon = {"ok": status_icon("ok", LEVEL_COLOURS["ok"]),
                "warning": status_icon("warning", LEVEL_COLOURS["warning"]),
                "error": status_icon("error", LEVEL_COLOURS["error"]),
                "pending": status_icon("pending", NEUTRAL)}[level]
        self.icon.setPixmap(icon.pixmap(QSize(18, 18), self.devicePixelRatioF()))
        self.setAccessibleName(self.tr("Photograph {0}: {1}").format(photo.name, text))
        shown = photo.result.display_image if photo.result is not None else preview
        if shown is not None:
            image = rgb_to_qimage(shown)
            ratio = self.devicePixelRatioF()
            pixmap = QPixmap.fromImage(image).scaled(
                round(72 * ratio), round(72 * ratio), Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation)
            pixmap.setDevicePixelRatio(ratio)
            self.thumb.setPixmap(pixmap)
        elif photo.result is not None or (photo.error and (unreadable or not photo.no_model)):
            self.thumb.setPixmap(status_icon("warning" if level == "warning" else "error",
                                             LEVEL_COLOURS[level]).pixmap(QSize(28, 28)))
        else:
            self.thumb.setText("…")

    def set_selected(self, selected: bool) -> None:
        self.setProperty("selected", selected)
        self.style().polish(self)

    def mousePressEvent(self, event) -> None:  # noqa: ANN001,N802
        self.selected.emit(self.photo_id)
        super().mousePressEvent(event)

    def keyPressEvent(self, event) -> None:  # noqa: ANN001,N802
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.selected.emit(self.photo_id)
        elif event.key() == Qt.Key.Key_Delete:
            self.removeRequested.emit(self.photo_id)
        else:
            super().keyPressEvent(event)

    def focusInEvent(self, event) -> None:  # noqa: ANN001,N802
        self.selected.emit(self.photo_id)
        super().focusInEvent(event)


# ------------------------------------------------------------------------------------------------
class EyeSlot(QFrame):
    """Drop zone and list of the photos of one eye."""

    filesDropped = Signal(list, object)  # noqa: N815  paths, eye
    addRequested = Signal(object)  # noqa: N815  eye

    def __init__(self, eye: Eye, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.eye = eye
        self.cards: dict[int, PhotoCard] = {}
        self.setObjectName("eyeSlot")
        self.setAcceptDrops(True)
        self.setAccessibleName(self.tr("{0} photographs").format(eye_name(eye)))
        self.title = QLabel(eye_name(eye))
        self.title.setObjectName("sectionTitle")
        self.count = QLabel()
        self.count.setObjectName("muted")
        self.add_button = QPushButton(line_icon("open"), self.tr("Add…"))
        self.add_button.setAccessibleName(self.tr("Add {0} photographs").format(eye_name(eye)))
        self.add_button.setToolTip(self.tr("Choose {0} photographs from a folder").format(
            eye_name(eye).lower()))
        self.add_button.clicked.connect(lambda: self.addRequested.emit(self.eye))
        self.hint = QLabel(self.tr("Drop photographs here\nor click Add…"))
        self.hint.setObjectName("dropHint")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setMinimumHeight(70)
        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addWidget(self.count)
        header.addStretch(1)
        header.addWidget(self.add_button)
        self.cards_layout = QVBoxLayout()
        self.cards_layout.setSpacing(6)
        self.cards_layout.setContentsMargins(0, 0, 0, 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 12)
        layout.addLayout(header)
        if eye is Eye.UNKNOWN:  # the instruction goes above the photographs it is about
            layout.addWidget(self.hint)
            layout.addLayout(self.cards_layout)
        else:
            layout.addLayout(self.cards_layout)
            layout.addWidget(self.hint)
        if eye is Eye.UNKNOWN:
            self.add_button.hide()
            self.hint.setText(self.tr("Choose right or left eye for each of these photographs"))
            self.hint.setWordWrap(True)
            self.hint.setMinimumHeight(0)
        self._refresh()

    def resizeEvent(self, event) -> None:  # noqa: ANN001,N802
        """In a narrow column the Add button shows its icon only (name and tooltip stay)."""
        super().resizeEvent(event)
        if not hasattr(self, "_add_text"):
            self._add_text = self.add_button.text()
        self.add_button.setText(self._add_text)
        margins = self.layout().contentsMargins()
        # The widest eye's title decides for both slots (one showed "Add…", the other an icon).
        metrics = self.title.fontMetrics()
        title = max([self.title.sizeHint().width()] + [
            metrics.horizontalAdvance(eye_name(eye)) + 4 for eye in (Eye.RIGHT, Eye.LEFT)])
        needed = (title + self.count.sizeHint().width()
                  + self.add_button.sizeHint().width() + margins.left() + margins.right() + 24)
        if self.width() < needed:
            self.add_button.setText("")

    def add_card(self, card: PhotoCard) -> None:
        self.cards[card.photo_id] = card
        self.cards_layout.addWidget(card)
        self._refresh()

    def take_card(self, photo_id: int) -> PhotoCard | None:
        card = self.cards.pop(photo_id, None)
        if card is not None:
            self.cards_layout.removeWidget(card)
        self._refresh()
        return card

    def _refresh(self) -> None:
        n = len(self.cards)
        self.count.setText("" if not n else self.tr("· 1 photo") if n == 1
                           else self.tr("· {0} photos").format(n))
        self.hint.setVisible(n == 0 or self.eye is Eye.UNKNOWN)
        if self.eye is Eye.UNKNOWN:
            self.setVisible(n > 0)

    def _set_drag(self, active: bool) -> None:
        self.setProperty("dragging", active)
        self.style().polish(self)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
            self._set_drag(True)

    def dragLeaveEvent(self, event) -> None:  # noqa: ANN001,N802
        self._set_drag(False)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        self._set_drag(False)
        paths = local_files(event.mimeData().urls())
        if paths:
            event.acceptProposedAction()
            self.filesDropped.emit(paths, self.eye)


# ------------------------------------------------------------------------------------------------
class ResultPanel(QFrame):
    """The patient outcome in large words, per-eye grades and the report buttons."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("resultPanel")
        self.setMinimumWidth(RESULT_MIN_WIDTH)
        self.icon = QLabel()
        self.icon.setFixedSize(44, 44)
        # Wrapped labels that claim the height their words need at their width: the decision
        # word and the interval are never squeezed (the page scrolls on a small screen).
        self.title = WrappedLabel()
        self.title.setObjectName("outcomeTitle")
        self.interval = WrappedLabel()
        self.interval.setObjectName("outcomeInterval")
        self.headline = WrappedLabel()
        self.headline.setObjectName("outcomeHeadline")
        self.action = WrappedLabel()
        for label in (self.title, self.interval, self.headline, self.action):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner = QFrame()
        self.banner.setObjectName("outcomeBanner")
        head = QGridLayout(self.banner)
        head.setContentsMargins(12, 10, 12, 10)
        head.setHorizontalSpacing(12)
        head.addWidget(self.icon, 0, 0, 2, 1, Qt.AlignmentFlag.AlignTop)
        head.addWidget(self.title, 0, 1)
        head.addWidget(self.interval, 1, 1)

        self.eyes_box = QFrame()
        self.eyes_grid = QGridLayout(self.eyes_box)
        self.eyes_grid.setContentsMargins(0, 0, 0, 0)
        self.eyes_grid.setHorizontalSpacing(12)
        self.eyes_grid.setVerticalSpacing(8)
        self.eye_labels: dict[Eye, tuple[QLabel, QLabel, QLabel]] = {}
        self.notes = QLabel()
        self.notes.setObjectName("notes")
        self.notes.setWordWrap(True)
        self.model_line = QLabel()
        self.model_line.setObjectName("modelLine")
        self.model_line.setWordWrap(True)

        self.print_button = QPushButton(line_icon("print", "#FFFFFF"), self.tr("Print report…"))
        self.print_button.setObjectName("primary")
        self.save_button = QPushButton(line_icon("save"), self.tr("Save PDF…"))
        self.new_button = QPushButton(line_icon("new"), self.tr("New patient"))
        for button in (self.print_button, self.save_button, self.new_button):
            button.setMinimumHeight(34)
            button.setAutoDefault(True)  # Enter presses the focused button, as Space does
        buttons = QGridLayout()
        self.button_grid = buttons  # clinic_view puts "Send to PACS" beside Print
        buttons.setSpacing(8)
        buttons.addWidget(self.print_button, 0, 0, 1, 2)
        buttons.addWidget(self.save_button, 1, 0)
        buttons.addWidget(self.new_button, 1, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 12, 14, 14)
        layout.setSpacing(8)
        caption = QLabel(self.tr("Screening result"))
        caption.setObjectName("sectionTitle")
        layout.addWidget(caption)
        layout.addWidget(self.banner)
        layout.addWidget(self.headline)
        layout.addWidget(self.action)
        layout.addWidget(self.eyes_box)
        layout.addWidget(self.notes)
        layout.addStretch(1)
        layout.addWidget(self.model_line)
        layout.addLayout(buttons)
        self.show_result(None)

    def resizeEvent(self, event) -> None:  # noqa: ANN001,N802
        """Wrapped words need more height in a narrow panel: ask for it (the page then scrolls
        on a small screen) instead of letting the layout squeeze the labels."""
        super().resizeEvent(event)
        self._claim_height()

    def event(self, event: QEvent) -> bool:
        """Texts set after the last resize (the per-eye rows, a longer interval) change the
        height needed: claim it again whenever the layout is redone."""
        handled = super().event(event)
        if event.type() == QEvent.Type.LayoutRequest:
            self._claim_height()
        return handled

    def _claim_height(self) -> None:
        needed = self.layout().totalMinimumHeightForWidth(self.width())
        if needed > 0 and needed != self.minimumHeight():
            self.setMinimumHeight(needed)

    # states ------------------------------------------------------------------------------------
    def _banner_colour(self, colour: str) -> None:
        self.banner.setStyleSheet(
            f"#outcomeBanner {{ border: 2px solid {colour}; border-radius: 10px;"
            f" background: {tint(colour, 20)}; }}")
        self.title.setStyleSheet(f"color: {colour};")
        self.interval.setStyleSheet(f"color: {colour};")

    def _clear_eyes(self) -> None:
        while self.eyes_grid.count():
            item = self.eyes_grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.eye_labels.clear()

    def show_busy(self, count: int) -> None:
        self.icon.setPixmap(status_icon("pending", NEUTRAL).pixmap(QSize(40, 40)))
        self._banner_colour(NEUTRAL)
        self.title.setText(self.tr("Screening…"))
        self.interval.setText(self.tr("1 photograph being checked") if count == 1
                              else self.tr("{0} photographs being checked").format(count))

    def show_unavailable(self, count: int) -> None:
        """Photographs were added but the grading model could not be loaded: say so (the
        operator must not keep adding or retaking photographs that are fine)."""
        self._show_result(None)
        colour = LEVEL_COLOURS["error"]
        self.icon.setPixmap(status_icon("error", colour).pixmap(QSize(40, 40)))
        self._banner_colour(colour)
        self.title.setText(self.tr("Screening unavailable"))
        self.interval.setText(self.tr("The grading model could not be loaded"))
        self.headline.setText(self.tr("1 photograph added, not screened") if count == 1
                              else self.tr("{0} photographs added, not screened").format(count))
        self.action.setText(self.tr("The photographs are fine but cannot be screened on this "
                                    "computer now. Ask your support contact to repair or "
                                    "reinstall Retina Screen, then screen this patient again."))
        self.icon.setAccessibleName(self.tr("Outcome: {0}").format(self.title.text()))
        self.banner.setAccessibleName(self.outcome_text().replace("\n", ". "))
        self._claim_height()

    def show_result(self, result: PatientResult | None, busy: int = 0) -> None:
        self._show_result(result, busy)
        self.icon.setAccessibleName(self.tr("Outcome: {0}").format(self.title.text()))
        self.banner.setAccessibleName(self.outcome_text().replace("\n", ". "))
        self._claim_height()

    def _show_result(self, result: PatientResult | None, busy: int = 0) -> None:
        self._clear_eyes()
        self.result = result
        has = result is not None
        for button in (self.print_button, self.save_button):
            button.setEnabled(has and not busy)
        if result is None:
            self.icon.setPixmap(line_icon("patient", NEUTRAL).pixmap(QSize(40, 40)))
            self._banner_colour(NEUTRAL)
            self.title.setText(self.tr("No photographs yet"))
            self.interval.setText(self.tr("Add the right and left eye photographs"))
            self.headline.setText("")
            self.action.setText(self.tr("Drop the photographs onto the eye boxes, or use Add… "
                                        "(Ctrl+O). Each photograph is checked as soon as it is "
                                        "added."))
            self.notes.setText("")
            self.model_line.setText("")
            if busy:
                self.show_busy(busy)
            return
        colour = OUTCOME_COLOURS[result.outcome]
        self._banner_colour(colour)
        self.icon.setPixmap(outcome_icon(result.outcome).pixmap(QSize(40, 40)))
        self.title.setText(outcome_title(result))
        interval = engine_text(result.referral.interval)
        self.interval.setText(interval[:1].upper() + interval[1:])
        self.headline.setText(engine_text(result.referral.headline))
        self.action.setText(engine_text(result.referral.action))
        for column, text in enumerate((self.tr("Eye"), self.tr("Grade"),
                                       self.tr("P(referable)"))):
            header = QLabel(text)
            header.setObjectName("columnHeader")
            self.eyes_grid.addWidget(header, 0, column)
        row = 1
        for eye_result in result.eyes:
            grade, probability = eye_summary(eye_result)
            labels = (QLabel(self.tr(EYE_SHORT[eye_result.eye])), QLabel(grade),
                      QLabel(probability))
            eye_colour = OUTCOME_COLOURS.get(eye_result.outcome, NEUTRAL)
            labels[1].setStyleSheet(f"color: {eye_colour}; font-weight: 600;")
            labels[1].setWordWrap(True)
            labels[2].setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            for column, label in enumerate(labels):
                self.eyes_grid.addWidget(label, row, column)
            self.eye_labels[eye_result.eye] = labels
            row += 1
        self.eyes_grid.setColumnStretch(1, 1)
        self.notes.setText("\n".join(f"• {engine_text(note)}" for note in result.notes))
        screened = result.screened_at[:16].replace("T", " ")
        model = (self.tr("model {0} {1}, ").format(result.model.name, result.model.version)
                 if result.model is not None else "")
        self.model_line.setText(self.tr("Screened {0} · {1}quality thresholds {2} · research "
                                        "use, not a diagnosis").format(
                                            screened, model, result.thresholds_version))
        if busy:
            self.show_busy(busy)

    # for tests and screen readers ----------------------------------------------------------------
    def outcome_text(self) -> str:
        return f"{self.title.text()}\n{self.interval.text()}\n{self.headline.text()}"

    def eye_texts(self) -> dict[Eye, tuple[str, str]]:
        return {eye: (labels[1].text(), labels[2].text())
                for eye, labels in self.eye_labels.items()}


# ------------------------------------------------------------------------------------------------
class PatientPage(QWidget):
    """The whole patient screen; owns the :class:`PatientSession`."""

    message = Signal(str, str)  # level, text
    resultShown = Signal(object)  # noqa: N815  PatientResult | None, after the panel updated
    reportSaved = Signal(Path)  # noqa: N815
    frontRequested = Signal()  # noqa: N815  a file action wants this page in view
    #: The clinic name/operator should be entered; the argument is called once they are.
    identityWanted = Signal(object)  # noqa: N815

    def __init__(self, settings: Callable[[], Settings], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self.session = PatientSession(self)
        self.cards: dict[int, PhotoCard] = {}
        #: Pictures of photographs not screened (no grading model), shown as they are; None
        #: while being loaded. ``unreadable``: why such a photograph could not be read.
        self.pictures: dict[int, np.ndarray | None] = {}
        self.unreadable: dict[int, str] = {}
        self.current_photo: int | None = None
        self.preview = None
        #: Asks before an unsaved screening is discarded; ``quitting`` when the window closes.
        self.confirm_discard: Callable[..., bool] = self._ask_discard
        #: Asks when a report would go out without clinic name or operator (replaceable in
        #: tests): returns "enter", "anyway" or "cancel".
        self.ask_identity: Callable[[list[str]], str] = lambda missing: ask_identity(
            self, missing)
        self.active = True  # False while another tab is in front

        self.form = PatientForm()
        self.slots = {eye: EyeSlot(eye) for eye in (Eye.RIGHT, Eye.LEFT, Eye.UNKNOWN)}
        self.viewer = ImageView()
        self.result_panel = ResultPanel()
        self._build_actions()
        self._build_layout()
        self._connect()

    # construction ------------------------------------------------------------------------------
    def _action(self, text: str, icon: str, shortcut, slot, tip: str,  # noqa: ANN001
                front: bool = False) -> QAction:
        """An action of this page; ``front``: it brings the page in view before acting."""
        action = QAction(line_icon(icon), text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if shortcut is not None:
            keys = QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)
            action.setToolTip(f"{tip} ({keys})")
        else:
            action.setToolTip(tip)
        action.setStatusTip(tip)
        if front:
            action.triggered.connect(self.frontRequested)
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def _build_actions(self) -> None:
        self.open_action = self._action(self.tr("&Open photographs…"), "open",
                                        QKeySequence.StandardKey.Open,
                                        lambda: self.open_photos(None),
                                        self.tr("Add photographs of this patient"), front=True)
        self.new_action = self._action(self.tr("&New patient"), "new", QKeySequence.StandardKey.New,
                                       self.new_patient, self.tr("Clear everything for the "
                                                                 "next patient"),
                                       front=True)
        self.print_action = self._action(self.tr("&Print report…"), "print",
                                         QKeySequence.StandardKey.Print,
                                         self.print_report, self.tr("Preview and print the report"),
                                         front=True)
        self.save_action = self._action(self.tr("&Save PDF…"), "save",
                                        QKeySequence.StandardKey.Save,
                                        self.save_pdf, self.tr("Save the report as a PDF file"),
                                        front=True)
        self.heatmap_action = self._action(self.tr("Show &heatmap"), "heatmap", "Ctrl+H",
                                           self._toggle_heatmap,
                                           self.tr("Overlay where the model looked on the "
                                                   "photograph"))
        self.heatmap_action.setCheckable(True)
        self.zoom_in_action = self._action(self.tr("Zoom &in"), "zoom_in",
                                           QKeySequence.StandardKey.ZoomIn, self.viewer.zoom_in,
                                           self.tr("Zoom in on the photograph"))
        self.zoom_out_action = self._action(self.tr("Zoom &out"), "zoom_out",
                                            QKeySequence.StandardKey.ZoomOut,
                                            self.viewer.zoom_out, self.tr("Zoom out"))
        self.fit_action = self._action(self.tr("&Fit to window"), "fit", "Ctrl+0", self.viewer.fit,
                                       self.tr("Show the whole photograph"))
        for action in (self.print_action, self.save_action):
            action.setEnabled(False)

    def _build_layout(self) -> None:
        left = QWidget()
        left.setObjectName("leftColumn")
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.setSpacing(10)
        left_layout.addWidget(self.form)
        slots_box = QWidget()
        slots_layout = QVBoxLayout(slots_box)
        slots_layout.setContentsMargins(0, 0, 4, 0)
        slots_layout.setSpacing(10)
        for slot in self.slots.values():
            slots_layout.addWidget(slot)
        slots_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(slots_box)
        scroll.setObjectName("slotsScroll")
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        left_layout.addWidget(scroll, 1)
        left.setMinimumWidth(LEFT_MIN_WIDTH)

        self.photo_caption = ElidedLabel(self.tr("No photograph selected"))
        self.photo_caption.setObjectName("viewerCaption")
        self.heatmap_legend = QLabel(self.tr(HEATMAP_LEGEND))
        self.heatmap_legend.setObjectName("muted")
        self.heatmap_legend.setWordWrap(True)
        self.heatmap_legend.setVisible(False)
        bar = QHBoxLayout()
        bar.setContentsMargins(10, 6, 6, 6)
        bar.addWidget(self.photo_caption, 1)
        self.viewer_buttons: list[QToolButton] = []
        for action in (self.heatmap_action, self.zoom_out_action, self.zoom_in_action,
                       self.fit_action):
            button = QToolButton()
            self.viewer_buttons.append(button)
            button.setDefaultAction(action)
            button.setAutoRaise(True)
            button.setIconSize(QSize(20, 20))
            button.setAccessibleName(action.text().replace("&", ""))
            if action is self.heatmap_action:
                button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
                self.heatmap_button = button
            bar.addWidget(button)
        center = ViewerFrame(self.heatmap_button)
        center.setObjectName("viewerFrame")
        center_layout = QVBoxLayout(center)
        center_layout.setContentsMargins(0, 0, 0, 0)
        center_layout.setSpacing(0)
        center_layout.addLayout(bar)
        center_layout.addWidget(self.viewer, 1)
        legend_row = QHBoxLayout()
        legend_row.setContentsMargins(10, 4, 10, 6)
        legend_row.addWidget(self.heatmap_legend)
        center_layout.addLayout(legend_row)

        self.result_panel.print_button.clicked.connect(self.print_action.trigger)
        self.result_panel.save_button.clicked.connect(self.save_action.trigger)
        self.result_panel.new_button.clicked.connect(self.new_action.trigger)
        self.result_panel.print_button.setAccessibleName(self.tr("Print report"))
        self.result_panel.save_button.setAccessibleName(self.tr("Save report as PDF"))
        self.result_panel.new_button.setAccessibleName(self.tr("New patient"))

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setObjectName("patientSplitter")
        splitter.addWidget(left)
        splitter.addWidget(center)
        splitter.addWidget(self.result_panel)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 0)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes(list(SPLITTER_SIZES))
        self.splitter = splitter
        # Until the operator drags a divider, the columns share the width so that the viewer
        # keeps a usable part of a narrow window (half a 1920 screen left it a 190 px sliver).
        self.splitter_dragged = False
        splitter.splitterMoved.connect(lambda *_args: setattr(self, "splitter_dragged", True))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addWidget(splitter)

        self.update_tab_order()

    def update_tab_order(self) -> None:
        """Tab follows the screen: the form (and any button under it, e.g. From worklist…),
        each eye's Add button then its photographs (card, eye, remove), the viewer and its
        tools, then the report buttons row by row (the photographs came after Print)."""
        form = self.form
        order: list[QWidget] = [form.patient_id, form.name, form.birth_date, form.sex,
                                form.diabetes, form.accession]
        order += [w for w in form.findChildren(QPushButton)
                  if w.parentWidget() is form]
        for eye in (Eye.RIGHT, Eye.LEFT, Eye.UNKNOWN):
            slot = self.slots[eye]
            if eye is not Eye.UNKNOWN:
                order.append(slot.add_button)
            for card in slot.cards.values():
                order += [card, card.eye_box, card.remove_button]
        order += [self.viewer, *self.viewer_buttons]
        grid = self.result_panel.button_grid
        for row in range(grid.rowCount()):
            for column in range(grid.columnCount()):
                item = grid.itemAtPosition(row, column)
                widget = item.widget() if item is not None else None
                if widget is not None and widget not in order:
                    order.append(widget)
        for first, second in zip(order, order[1:], strict=False):
            QWidget.setTabOrder(first, second)

    def resizeEvent(self, event) -> None:  # noqa: ANN001,N802
        super().resizeEvent(event)
        if not self.splitter_dragged:
            panel = self.result_panel
            margins = panel.layout().contentsMargins()
            needed = (panel.button_grid.sizeHint().width() + margins.left() + margins.right()
                      + 2 * panel.frameWidth() + 8)  # the card's border, a little air
            self.splitter.setSizes(column_widths(
                self.splitter.width() - 2 * self.splitter.handleWidth(),
                result_min=max(RESULT_MIN_WIDTH, needed)))

    def _connect(self) -> None:
        session = self.session
        session.photoAdded.connect(self._photo_added)
        session.photoChanged.connect(self._photo_changed)
        session.photoRemoved.connect(self._photo_removed)
        session.cleared.connect(self._cleared)
        session.resultChanged.connect(self._result_changed)
        session.busyChanged.connect(lambda _busy: self._result_changed(session.result))
        session.dicomFound.connect(self._dicom_found)
        session.notice.connect(lambda text: self.message.emit("info", text))
        self.viewer.detailWanted.connect(self._load_detail)
        self.form.changed.connect(lambda: session.set_patient(self.form.info()))
        for slot in self.slots.values():
            slot.filesDropped.connect(self.add_photos)
            slot.addRequested.connect(self.open_photos)

    # photos ------------------------------------------------------------------------------------
    def add_photos(self, paths: list[Path], eye: Eye | None = None) -> list[int]:
        """Add photographs (from a drop or the Open dialog); ``eye`` is the slot used."""
        return self.session.add_photos([Path(p) for p in paths], eye)

    def open_photos(self, eye: Eye | None = None) -> None:
        start = self._last_dir()
        caption = (self.tr("Add {0} photographs").format(eye_name(eye).lower()) if eye
                   else self.tr("Add photographs"))
        files, _ = QFileDialog.getOpenFileNames(self, caption, str(start), PHOTO_FILTER)
        if files:
            self._remember_dir(Path(files[0]).parent)
            self.add_photos([Path(f) for f in files], eye)

    def _last_dir(self) -> Path:
        return getattr(self, "_open_dir", None) or Path.home()

    def _remember_dir(self, folder: Path) -> None:
        self._open_dir = folder

    def _photo_added(self, photo_id: int) -> None:
        photo = self.session.photos[photo_id]
        card = PhotoCard(photo)
        card.selected.connect(self.select_photo)
        card.eyeChosen.connect(self.session.set_eye)
        card.removeRequested.connect(self.session.remove)
        self.cards[photo_id] = card
        self.slots[photo.eye].add_card(card)
        self.update_tab_order()
        if self.current_photo is None:
            self.select_photo(photo_id)
        self._not_screened(photo)

    def _not_screened(self, photo: Photo) -> None:
        """Without a grading model: load the photograph's picture to show it (worker), and
        say in the result panel that screening is unavailable."""
        if not photo.no_model:
            return
        self._result_changed(self.session.result)
        if photo.id in self.pictures or photo.id in self.unreadable:
            return
        self.pictures[photo.id] = None  # being loaded
        photo_id = photo.id

        def done(rgb: object, error: BaseException | None) -> None:
            if photo_id not in self.pictures:  # removed meanwhile
                return
            if error is not None:  # a damaged file: its card and the viewer say so
                log.info("photograph not shown: %s", type(error).__name__)
                del self.pictures[photo_id]
                self.unreadable[photo_id] = plain_message(error)
            else:
                self.pictures[photo_id] = rgb  # type: ignore[assignment]
            self._photo_changed(photo_id)

        run_task(load_picture, photo.path, on_done=done)

    def _slot_of(self, photo_id: int) -> EyeSlot | None:
        return next((s for s in self.slots.values() if photo_id in s.cards), None)

    def _photo_changed(self, photo_id: int) -> None:
        photo = self.session.photos.get(photo_id)
        card = self.cards.get(photo_id)
        if photo is None or card is None:
            return
        slot = self._slot_of(photo_id)
        if slot is not None and slot.eye is not photo.eye:
            slot.take_card(photo_id)
            self.slots[photo.eye].add_card(card)
            self.update_tab_order()
        card.update_from(photo, self.pictures.get(photo_id), self.unreadable.get(photo_id, ""))
        if self.current_photo == photo_id:
            self._show_photo(photo)
        self._not_screened(photo)

    def _photo_removed(self, photo_id: int) -> None:
        slot = self._slot_of(photo_id)
        card = slot.take_card(photo_id) if slot else None
        self.cards.pop(photo_id, None)
        self.pictures.pop(photo_id, None)
        self.unreadable.pop(photo_id, None)
        if card is not None:
            card.deleteLater()
        if self.current_photo == photo_id:
            self.current_photo = None
            remaining = list(self.session.photos)
            if remaining:
                self.select_photo(remaining[-1])
            else:
                self._show_photo(None)
        if self.session.model_problem:  # the result panel counts the photographs
            self._result_changed(self.session.result)

    def _cleared(self) -> None:
        for photo_id in list(self.cards):
            slot = self._slot_of(photo_id)
            card = slot.take_card(photo_id) if slot else self.cards.get(photo_id)
            if card is not None:
                card.deleteLater()
        self.cards.clear()
        self.pictures.clear()
        self.unreadable.clear()
        self.current_photo = None
        self._show_photo(None)

    def select_photo(self, photo_id: int) -> None:
        self.current_photo = photo_id
        for other_id, card in self.cards.items():
            card.set_selected(other_id == photo_id)
        self._show_photo(self.session.photos.get(photo_id))

    def _show_photo(self, photo: Photo | None) -> None:
        if photo is None:
            self.viewer.show_image(None)
            self.viewer.set_placeholder(self.tr("Select or drop a photograph"))
            self.photo_caption.setText(self.tr("No photograph selected"))
            self._update_heatmap_action()
            return
        result = photo.result
        self.photo_caption.setText(f"{photo.name} · {eye_name(photo.eye)}")
        picture = self.pictures.get(photo.id)
        if (result is None or result.display_image is None) and picture is not None:
            self.viewer.show_image(picture)  # not screened (no grading model), shown as is
        elif result is None or result.display_image is None:
            self.viewer.show_image(None)
            self.viewer.set_placeholder(
                self.tr("Checking quality…") if photo.pending
                else self.tr("Loading the photograph…") if photo.id in self.pictures
                else self.tr("This file cannot be shown"))
        else:
            heatmap = result.grading.heatmap if result.grading is not None else None
            self.viewer.show_image(result.display_image, heatmap)
        self._update_heatmap_action()

    def _load_detail(self) -> None:
        """Zoomed in: fetch the full-resolution crop of the photograph in view (worker)."""
        photo = self.session.photos.get(self.current_photo) if self.current_photo else None
        if photo is None or photo.result is None or photo.result.display_image is None:
            return
        photo_id = photo.id

        def done(rgb: object, error: BaseException | None) -> None:
            if error is not None:
                log.warning("full-resolution view unavailable: %s", type(error).__name__)
                return
            if self.current_photo == photo_id:  # still the photograph in view
                self.viewer.show_detail(rgb)  # type: ignore[arg-type]

        run_task(full_resolution_crop, photo.path, on_done=done)

    def _toggle_heatmap(self) -> None:
        self.viewer.set_heatmap(self.heatmap_action.isChecked())
        self._update_heatmap_action()

    def set_shortcuts_active(self, active: bool) -> None:
        """The viewer's actions (heatmap, zoom) only work while this page is in front."""
        self.active = active
        for action in (self.zoom_in_action, self.zoom_out_action, self.fit_action):
            action.setEnabled(active)
        self._update_heatmap_action()

    def _update_heatmap_action(self) -> None:
        available = self.viewer.has_heatmap and self.active
        self.heatmap_action.setEnabled(available)
        self.viewer.set_heatmap(self.heatmap_action.isChecked())
        shown = available and self.heatmap_action.isChecked()
        if shown and self.viewer.heatmap_peak <= 0.0:
            self.heatmap_legend.setText(self.tr("Heatmap: no area stood out to the model in "
                                                "this photograph."))
        else:
            self.heatmap_legend.setText(self.tr(HEATMAP_LEGEND))
        self.heatmap_legend.setVisible(shown)

    def _dicom_found(self, dicom: DicomInfo) -> None:
        if self.form.prefill(dicom):
            self.message.emit("info", self.tr("Patient details were filled in from the DICOM "
                                              "file. Check them before printing."))
        elif dicom.patient_id and self.form.patient_id.text().strip() not in ("",
                                                                              dicom.patient_id):
            self.message.emit("warning", self.tr("A DICOM photograph carries a different "
                                                 "patient ID from the one entered. Check that "
                                                 "it is this patient."))

    def _result_changed(self, result: PatientResult | None) -> None:
        busy = self.session.pending if self.session.screener is not None else 0
        if self.session.screener is None and self.session.model_problem and self.session.photos:
            self.result_panel.show_unavailable(len(self.session.photos))
        else:
            self.result_panel.show_result(result, busy)
        ready = result is not None and not busy
        self.print_action.setEnabled(ready)
        self.save_action.setEnabled(ready)
        self.resultShown.emit(result)

    # patient -----------------------------------------------------------------------------------
    def _ask_discard(self, quitting: bool = False) -> bool:
        if quitting:
            title, question = (self.tr("Quit without the report?"),
                               self.tr("The screening result has not been printed or saved. "
                                       "Quit Retina Screen anyway? The result will be lost."))
        else:
            title, question = (self.tr("Discard this screening?"),
                               self.tr("The screening result has not been printed or saved. "
                                       "Start a new patient anyway?"))
        box = QMessageBox(QMessageBox.Icon.Question, title, question,
                          QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
                          self)
        box.button(QMessageBox.StandardButton.Discard).setText(
            self.tr("Quit anyway") if quitting else self.tr("Discard and start a new patient"))
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        return box.exec() == QMessageBox.StandardButton.Discard

    def new_patient(self, force: bool = False) -> bool:
        """Clear everything; asks first when a result was neither printed nor saved."""
        if not force and self.session.unsaved and not self.confirm_discard():
            return False
        self.session.clear()
        self.form.clear()
        self.heatmap_action.setChecked(False)
        self.form.patient_id.setFocus()
        log.info("new patient")
        return True

    # reports -----------------------------------------------------------------------------------
    def checked_result(self) -> PatientResult | None:
        """The result with the form's details, once it can be reported (every photograph
        screened, a patient ID, a valid date of birth); otherwise says why and returns None."""
        return self._report_result()

    def _report_result(self) -> PatientResult | None:
        self.session.set_patient(self.form.info())
        result = self.session.result
        if result is None or self.session.pending:
            self.message.emit("warning", self.tr("Wait until every photograph has been "
                                                 "screened."))
            return None
        if not result.patient.patient_id:
            self.message.emit("warning", self.tr("Enter the patient ID before printing, "
                                                 "saving or sending the report."))
            self.form.patient_id.setFocus()
            return None
        problem = self.form.birth_date_problem()
        if problem:  # never print a typed date as "not recorded"
            self.form.check_birth_date()
            self.message.emit("warning", problem)
            self.form.birth_date.setFocus()
            return None
        problem = self.form.accession_problem()
        if problem:  # never print a number other than the one typed
            self.message.emit("warning", problem)
            self.form.accession.setFocus()
            return None
        from ..report import cjk_embedded, printable

        if printable(" ".join((result.patient.name, result.patient.patient_id)))[1]:
            # Arabic, Hebrew and other scripts the report's fonts lack printed as "????" with
            # no word in the window (found 2026-12-02).
            self.message.emit("warning", self.tr("Some characters of the patient's name or ID "
                                                 "cannot be printed with the report's fonts "
                                                 "(right-to-left scripts such as Arabic or "
                                                 "Hebrew, among others): they will show as "
                                                 "'?'. Check that the report identifies the "
                                                 "patient, or enter the name in Latin letters."))
        elif not cjk_embedded(result.patient.name + result.patient.patient_id):
            self.message.emit("warning", self.tr("The report font for Chinese, Japanese and "
                                                 "Korean characters is missing from this "
                                                 "installation: some PDF viewers and printers "
                                                 "will show the name as empty boxes. Check the "
                                                 "printed name."))
        return result

    def _identity_ready(self, then: Callable[[], None]) -> bool:
        """True when the clinic name and operator are set or the operator chose to go on
        without them; "enter" asks the window for the dialog, which calls ``then`` once they
        are saved."""
        missing = identity_missing(self._settings())
        if not missing:
            return True
        answer = self.ask_identity(missing)
        log.info("report without %s: %s", " and ".join(missing), answer)
        if answer == "enter":
            self.identityWanted.emit(then)
        return answer == "anyway"

    def save_pdf(self) -> None:
        result = self._report_result()
        if result is None or not self._identity_ready(self.save_pdf):
            return
        settings = self._settings()
        start = Path(settings.output_dir) / default_report_name(result)
        make_folder(start.parent)
        target, _ = QFileDialog.getSaveFileName(self, self.tr("Save report as PDF"), str(start),
                                                self.tr("PDF files (*.pdf)"))
        if target:
            self.save_pdf_to(Path(target))

    def save_pdf_to(self, target: Path) -> None:
        """Build the report into ``target`` on a worker thread."""
        result = self._report_result()
        if result is None:
            return
        if target.suffix.lower() != ".pdf":
            target = target.with_suffix(".pdf")
        settings = self._settings()

        def done(path: object, error: BaseException | None) -> None:
            if error is not None:
                self.message.emit("error", plain_message(error, "save the report"))
                return
            if self.session.result is not None and self.session.result.screened_at == \
                    result.screened_at:
                self.session.mark_saved()
            self.message.emit("info", self.tr("Report saved to {0}").format(path))
            self.reportSaved.emit(Path(path))  # type: ignore[arg-type]

        run_task(issue_report_file, result, target, settings, on_done=done)

    def print_report(self) -> None:
        """Build the report to a temporary file, then show the preview with its Print button."""
        result = self._report_result()
        if result is None or not self._identity_ready(self.print_report):
            return
        settings = self._settings()
        folder = Path(tempfile.mkdtemp(prefix="retina-screen-report-"))
        target = folder / default_report_name(result)
        self.print_action.setEnabled(False)

        def done(path: object, error: BaseException | None) -> None:
            self.print_action.setEnabled(self.session.result is not None)
            if error is not None:
                shutil.rmtree(folder, ignore_errors=True)
                self.message.emit("error", plain_message(error, "prepare the report"))
                return
            if self.session.result is not result:
                # A photograph, an eye or the form changed while the report was being made:
                # its preview would print the earlier result (found 2026-12-02).
                shutil.rmtree(folder, ignore_errors=True)
                self.message.emit("warning", self.tr(
                    "The result changed while the report was being prepared, so it was not "
                    "shown. Press Print report again for the current result."))
                return
            self.open_preview(Path(path), result, folder)  # type: ignore[arg-type]

        run_task(build_report_file, result, target, settings, on_done=done)

    def open_preview(self, pdf: Path, result: PatientResult,
                     temporary_dir: Path | None = None) -> None:
        from .report_preview import ReportPreviewDialog

        settings = self._settings()
        dialog = ReportPreviewDialog(pdf, settings.paper_size,
                                     Path(settings.output_dir) / default_report_name(result), self,
                                     temporary_dir=temporary_dir)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.message.connect(self.message)
        dialog.printed.connect(lambda: self._mark_saved_if_current(result))
        dialog.saved.connect(lambda _p: self._mark_saved_if_current(result))
        # Printed or saved from here, the report is issued: the audit trail records it (the
        # bytes read now: the preview's temporary file goes when the dialog closes).
        dialog.printed.connect(lambda: self._record_issued(result, pdf.read_bytes(), "printed"))
        dialog.saved.connect(lambda path: self._record_issued(result, path, "saved"))
        self.preview = dialog
        dialog.destroyed.connect(lambda: setattr(self, "preview", None))
        dialog.open()
        QTimer.singleShot(0, dialog.raise_)


    def _mark_saved_if_current(self, result: PatientResult) -> None:
        """A printed or saved report marks the session saved only when it is the current
        result's: printing an earlier one must not let New patient or Quit drop this one."""
        if self.session.result is result:
            self.session.mark_saved()

    def _record_issued(self, result: PatientResult, report: Path | bytes, issued: str) -> None:
        """The audit record of a report printed or saved from the preview (worker thread)."""
        from ..audit import record_decision

        def done(_record: object, error: BaseException | None) -> None:
            if error is not None:
                self.message.emit("error", plain_message(error, "record the report in the "
                                                                "audit trail"))

        run_task(record_decision, result, self._settings(), report, issued, on_done=done)


def load_picture(path: Path) -> np.ndarray:
    """Worker-thread job: a photograph's picture to show (no screening: the grading model is
    unavailable), at the engine's decode size."""
    from ..loading import load_image
    from ..preprocess import DECODE_MAX_SIDE

    return load_image(path, max_side=DECODE_MAX_SIDE).pixels


def build_report_file(result: PatientResult, target: Path, settings: Settings) -> Path:
    """Worker-thread job: the report module writes the PDF (atomically)."""
    from ..report import build_report

    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(build_report(result, target, settings))


def issue_report_file(result: PatientResult, target: Path, settings: Settings) -> Path:
    """Worker-thread job: the report written to ``target`` and recorded, with its sha256, in
    the audit trail (a saved report is an issued one)."""
    from ..audit import record_decision

    path = build_report_file(result, target, settings)
    record_decision(result, settings, path, "saved")
    return path
