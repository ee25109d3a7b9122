"""Settings dialog (clinic, operator, paper, output folder, model shown read-only) and the
first-run dialog."""

from __future__ import annotations

import html
import logging
import re
from pathlib import Path

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QSize, Qt
from PySide6.QtGui import QFont, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..errors import RetinaScreenError
from ..inference import Manifest, read_manifest
from ..settings import Settings, describe
from .geometry import fit_dialog
from .icons import app_icon, line_icon
from .prefs import Preferences

translate = QCoreApplication.translate  # pyside6-lupdate reads translate("context", "text")
log = logging.getLogger(__name__)

CARD_SUMMARY_CHARS = 1200
#: How a choice is shown, where the stored value is a code: languages in their own language.
CHOICE_NAMES = {"language": {"system": QT_TRANSLATE_NOOP("SettingsDialog", "System default"),
                             "en": "English", "es": "Español"}}
#: Choice names that are shown as they are (a language's name in that language).
UNTRANSLATED_NAMES = {"English", "Español"}
#: The settings' titles and help (declared in retina_screen/settings.py), for translation.
_SETTING_WORDS = (
    QT_TRANSLATE_NOOP("SettingsDialog", "Clinic name"),
    QT_TRANSLATE_NOOP("SettingsDialog", "The clinic's name, printed at the top of every report."),
    QT_TRANSLATE_NOOP("SettingsDialog", "Address"),
    QT_TRANSLATE_NOOP("SettingsDialog", "The clinic's address, printed under its name (one line "
                                        "per line)."),
    QT_TRANSLATE_NOOP("SettingsDialog", "Logo"),
    QT_TRANSLATE_NOOP("SettingsDialog", "Image printed at the top left of every report."),
    QT_TRANSLATE_NOOP("SettingsDialog", "Operator"),
    QT_TRANSLATE_NOOP("SettingsDialog", "Name of the person screening, recorded in reports and "
                                        "the audit trail."),
    QT_TRANSLATE_NOOP("SettingsDialog", "Paper size"),
    QT_TRANSLATE_NOOP("SettingsDialog", "Paper of the PDF reports and the printer."),
    QT_TRANSLATE_NOOP("SettingsDialog", "Language"),
    QT_TRANSLATE_NOOP("SettingsDialog", "Language of the app and the reports (system: the "
                                        "computer's language; en: English; es: Spanish)."),
    QT_TRANSLATE_NOOP("SettingsDialog", "Default output folder"),
    QT_TRANSLATE_NOOP("SettingsDialog", "Where reports are saved and batch results are written "
                                        "by default."),
)


def model_card_summary(manifest_path: Path, manifest: Manifest) -> str:
    """The summary of the model card (Markdown): its opening paragraph and its 'Summary' (or
    'Overview', 'Intended use') section; empty if the card does not exist."""
    card_name = manifest.raw.get("model_card") or f"{Path(manifest.file).stem}.md"
    card = Path(manifest_path).parent / str(card_name)
    try:
        text = card.read_text(encoding="utf-8")
    except OSError:
        return ""
    sections = re.split(r"^(#{1,3} .*)$", text, flags=re.MULTILINE)
    opening = next((p.strip() for p in re.split(r"\n\s*\n", sections[0] if sections else "")
                    if p.strip()), "")
    if not opening and len(sections) > 2:  # the card starts with its title
        opening = next((p.strip() for p in re.split(r"\n\s*\n", sections[2]) if p.strip()), "")
    section = ""
    for index, part in enumerate(sections):
        if part.startswith("#") and re.search(r"summary|overview|intended use", part, re.I):
            section = sections[index + 1].strip() if index + 1 < len(sections) else ""
            break
    parts = [opening] if opening else []
    if section and section != opening:
        parts.append(section)
    body = "\n\n".join(parts).strip()
    if len(body) > CARD_SUMMARY_CHARS:
        body = body[:CARD_SUMMARY_CHARS].rsplit(" ", 1)[0] + " …"
    return body


def model_details_html(manifest: Manifest) -> str:
    """Name, version, sha256, threshold and validation figures as an HTML table."""
    raw = manifest.raw
    rows = [("Model", manifest.name), ("Version", manifest.version),
            ("File", manifest.file),
            ("SHA-256", f"<tt>{manifest.sha256[:32]}<br>{manifest.sha256[32:]}</tt>"),
            ("Referable threshold", f"P(grade ≥ 2) ≥ {manifest.referable_threshold:.3f}")]
    if raw.get("threshold_rule"):
        rows.append(("Threshold rule", html.escape(str(raw["threshold_rule"]))))
    if raw.get("architecture"):
        rows.append(("Architecture", html.escape(str(raw["architecture"]))))
    if raw.get("created"):
        rows.append(("Created", html.escape(str(raw["created"]))))
    table = "".join(f"<tr><td style='color:#5F6B7A;padding-right:12px'>{k}</td><td>{v}</td></tr>"
                    for k, v in rows)
    validation = raw.get("validation_at_threshold") or {}
    if validation:
        lines = ["<tr><th align=left>Validation set</th><th>n</th><th>AUC</th>"
                 "<th>Sensitivity</th><th>Specificity</th></tr>"]
        for name, figures in validation.items():
            def number(key: str, figures: dict = figures) -> str:
                value = figures.get(key)
                return f"{value:.3f}" if isinstance(value, int | float) else "–"

            lines.append(f"<tr><td>{html.escape(str(name))}</td>"
                         f"<td align=right>{figures.get('n', '–')}</td>"
                         f"<td align=right>{number('auc')}</td>"
                         f"<td align=right>{number('sensitivity')}</td>"
                         f"<td align=right>{number('specificity')}</td></tr>")
        table += ("</table><p style='margin-top:10px'><b>Validation at the operating "
                  "threshold</b></p><table cellspacing=4>" + "".join(lines))
    return f"<table cellspacing=4>{table}</table>"


class PathField(QWidget):
    """A line edit with a Browse… button for a file or a folder."""

    def __init__(self, folder: bool, caption: str, file_filter: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder, self.caption, self.file_filter = folder, caption, file_filter
        self.edit = QLineEdit()
        self.edit.setAccessibleName(caption)
        self.button = QPushButton(line_icon("folder"), translate("SettingsDialog", "Browse…"))
        self.button.setAccessibleName(translate("SettingsDialog", "Browse for {0}").format(
            caption.lower()))
        self.button.clicked.connect(self._browse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.button)
        self.setFocusProxy(self.edit)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def _browse(self) -> None:
        start = self.edit.text() or str(Path.home())
        if self.folder:
            chosen = QFileDialog.getExistingDirectory(self, self.caption, start)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, self.caption, start, self.file_filter)
        if chosen:
            self.edit.setText(chosen)

    def text(self) -> str:
        return self.edit.text().strip()

    def setText(self, text: str) -> None:  # noqa: N802
        self.edit.setText(text)


class SettingsDialog(QDialog):
    """Clinic details and logo, operator, paper size, output folder; the model, read-only."""

    def __init__(self, prefs: Preferences, settings: Settings, manifest: Manifest | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.prefs = prefs
        self.editors: dict[str, QWidget] = {}
        self.setWindowTitle(translate("SettingsDialog", "Settings"))
        fit_dialog(self, QSize(760, 640), QSize(560, 420))
        tabs = QTabWidget()
        tabs.addTab(self._clinic_tab(settings), translate("SettingsDialog", "Clinic && operator"))
        tabs.addTab(self._output_tab(settings), translate("SettingsDialog", "Reports && output"))
        tabs.addTab(self._model_tab(settings, manifest), translate("SettingsDialog", "Model"))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.error = QLabel()
        self.error.setObjectName("errorText")
        layout = QVBoxLayout(self)
        layout.addWidget(tabs, 1)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.tabs = tabs

    @staticmethod
    def _form_page() -> tuple[QWidget, QFormLayout]:
        page = QWidget()
        outer = QVBoxLayout(page)
        form = QFormLayout()
        form.setVerticalSpacing(10)
        outer.addLayout(form)
        outer.addStretch(1)
        return page, form

    def _editor(self, form: QFormLayout, name: str, settings: Settings) -> QWidget:
        """The row of one setting, built from its declaration (title, help, kind, choices)."""
        info = describe()[name]
        value = getattr(settings, name)
        editor: QWidget
        if info.choices:
            editor = QComboBox()
            names = CHOICE_NAMES.get(name, {})
            for choice in info.choices:  # shown by name, stored as the setting's value
                shown = names.get(choice, choice)
                editor.addItem(shown if shown in UNTRANSLATED_NAMES
                               else translate("SettingsDialog", shown), choice)
            editor.setCurrentIndex(max(editor.findData(str(value)), 0))
        elif info.kind == "multiline":
            editor = QPlainTextEdit(str(value or ""))
            editor.setTabChangesFocus(True)
            editor.setFixedHeight(78)
        elif info.kind in ("file", "folder"):
            editor = PathField(info.kind == "folder", translate("SettingsDialog", info.title),
                               "Images (*.png *.jpg *.jpeg *.svg)" if name == "clinic_logo"
                               else "")
            editor.setText(str(value) if value is not None else "")
        else:
            editor = QLineEdit(str(value or ""))
        title = translate("SettingsDialog", info.title)
        editor.setAccessibleName(title)
        help_text = translate("SettingsDialog", info.doc[:1].upper() + info.doc[1:] + ".")
        editor.setToolTip(help_text)
        editor.setAccessibleDescription(help_text)
        label = QLabel(f"&{title}")
        label.setBuddy(editor)
        form.addRow(label, editor)
        self.editors[name] = editor
        return editor

    def _clinic_tab(self, settings: Settings) -> QWidget:
        page, form = self._form_page()
        self.clinic_name = self._editor(form, "clinic_name", settings)
        self.clinic_address = self._editor(form, "clinic_address", settings)
        self.logo = self._editor(form, "clinic_logo", settings)
        if not Path(settings.clinic_logo).is_file():
            self.logo.setText("")
        self.logo_preview = QLabel()
        self.logo_preview.setFixedHeight(64)
        self.logo.edit.textChanged.connect(self._show_logo)
        self._show_logo(self.logo.text())
        form.addRow("", self.logo_preview)
        self.operator = self._editor(form, "operator", settings)
        self.operator.setPlaceholderText(translate("SettingsDialog", "Name printed on reports "
                                                                     "as the person "
                                                 "screening"))
        return page

    def _show_logo(self, text: str) -> None:
        pixmap = QPixmap(text) if text else QPixmap()
        if pixmap.isNull():
            self.logo_preview.setText(translate("SettingsDialog", "No logo") if not text
                                      else translate("SettingsDialog",
                                                     "This file is not an image"))
        else:
            self.logo_preview.setPixmap(pixmap.scaledToHeight(
                60, Qt.TransformationMode.SmoothTransformation))

    def _output_tab(self, settings: Settings) -> QWidget:
        page, form = self._form_page()
        self.paper = self._editor(form, "paper_size", settings)
        self.language = self._editor(form, "language", settings)
        restart = translate("SettingsDialog", "The app's language changes when Retina Screen is "
                                              "started again; new reports use it at once.")
        self.language.setToolTip(self.language.toolTip() + " " + restart)
        self.initial_language = self.language.currentData()
        self.language_note = QLabel(restart)  # shown once another language is chosen
        self.language_note.setWordWrap(True)
        self.language_note.setObjectName("muted")
        self.language_note.setVisible(False)
        form.addRow("", self.language_note)
        self.language.currentIndexChanged.connect(
            lambda _index: self.language_note.setVisible(self.language_changed))
        self.output_dir = self._editor(form, "output_dir", settings)
        note = QLabel(translate("SettingsDialog", "Reports are saved here by default, and "
                                                  "batch runs write their "
                              "results (results.csv, patients.csv, reports) into a folder you "
                              "choose, starting here."))
        note.setWordWrap(True)
        note.setObjectName("muted")
        form.addRow("", note)
        where = QLabel(translate("SettingsDialog", "These settings are kept in {0}, which the "
                                                   "retina-screen "
                               "command line reads too.")
                                   .format(html.escape(str(self.prefs.settings_path))))
        where.setWordWrap(True)
        where.setObjectName("muted")
        where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("", where)
        return page

    def _model_tab(self, settings: Settings, manifest: Manifest | None) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        if manifest is None:
            try:
                manifest = read_manifest(settings.model)
            except RetinaScreenError as exc:
                problem = QLabel(translate("SettingsDialog",
                                           "The model cannot be read: {0}").format(exc))
                problem.setWordWrap(True)
                problem.setObjectName("errorText")
                layout.addWidget(problem)
                layout.addStretch(1)
                return page
        details = QLabel(model_details_html(manifest))
        details.setTextFormat(Qt.TextFormat.RichText)
        details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        details.setWordWrap(True)
        details.setAccessibleName(translate("SettingsDialog", "Model details"))
        self.model_details = details
        summary = model_card_summary(settings.model, manifest)
        card = QLabel(summary or "The model card (models/"
                      f"{manifest.raw.get('model_card', 'dr_lite0.md')}) is not available.")
        card.setTextFormat(Qt.TextFormat.MarkdownText if summary else Qt.TextFormat.PlainText)
        card.setWordWrap(True)
        card.setAccessibleName(translate("SettingsDialog", "Model card summary"))
        card.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.model_card = card
        inner = QWidget()
        inner_layout = QVBoxLayout(inner)
        title = QLabel(translate("SettingsDialog", "Model in use (read-only)"))
        title.setObjectName("sectionTitle")
        inner_layout.addWidget(title)
        inner_layout.addWidget(details)
        card_title = QLabel(translate("SettingsDialog", "Model card summary"))
        card_title.setObjectName("sectionTitle")
        inner_layout.addWidget(card_title)
        inner_layout.addWidget(card)
        inner_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        layout.addWidget(scroll)
        return page

    @property
    def language_changed(self) -> bool:
        """Another language than the one in use was chosen (it needs a restart)."""
        return self.language.currentData() != self.initial_language

    def values(self) -> dict[str, str]:
        out = {}
        for name, editor in self.editors.items():
            if isinstance(editor, QComboBox):
                out[name] = str(editor.currentData())
            elif isinstance(editor, QPlainTextEdit):
                out[name] = editor.toPlainText().strip()
            else:
                out[name] = editor.text().strip()
        return out

    def accept(self) -> None:
        values = self.values()
        if not values["clinic_name"]:
            self.error.setText(translate("SettingsDialog", "Enter the clinic name: it is "
                                                           "printed on every report."))
            self.clinic_name.setFocus()
            return
        if values["clinic_logo"] and QPixmap(values["clinic_logo"]).isNull():
            self.error.setText(translate("SettingsDialog", "The logo file is not a readable "
                                                           "image."))
            return
        try:
            self.prefs.store_settings(values)
        except RetinaScreenError as exc:
            self.error.setText(translate("SettingsDialog", "The settings could not be saved: "
                                                           "{0}").format(exc))
            return
        log.info("settings saved")
        super().accept()


def identity_missing(settings: Settings) -> list[str]:
    """What a report would be headed with for want of a setting: the placeholder clinic name
    and/or "Operator: not recorded" (names of the missing settings; empty when both are set)."""
    missing = []
    if not settings.clinic_name.strip() or settings.clinic_name == Settings().clinic_name:
        missing.append("clinic_name")
    if not settings.operator.strip():
        missing.append("operator")
    return missing


def ask_identity(parent: QWidget, missing: list[str]) -> str:
    """Before a report is printed or saved without a clinic name or operator: "enter" (open
    the dialog to set them), "anyway" (the operator confirmed) or "cancel"."""
    if missing == ["operator"]:
        what = translate("SettingsDialog", "Your name (the operator) is not set: the report "
                                           "will say 'Operator: not recorded'.")
    elif missing == ["clinic_name"]:
        what = translate("SettingsDialog", "The clinic name is not set: the report will be "
                                           "headed with a placeholder name, not your clinic's.")
    else:
        what = translate("SettingsDialog", "The clinic name and your name (the operator) are "
                                           "not set: the report will be headed with a "
                                           "placeholder clinic name and say 'Operator: not "
                                           "recorded'.")
    box = QMessageBox(QMessageBox.Icon.Warning,
                      translate("SettingsDialog", "Clinic or operator not set"),
                      what + "\n\n" + translate("SettingsDialog", "The report goes into the "
                                                                   "patient's record. Enter "
                                                                   "them now?"),
                      QMessageBox.StandardButton.NoButton, parent)
    enter = box.addButton(translate("SettingsDialog", "Enter them now…"),
                          QMessageBox.ButtonRole.AcceptRole)
    anyway = box.addButton(translate("SettingsDialog", "Continue without them"),
                           QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(enter)
    box.exec()
    clicked = box.clickedButton()
    return "enter" if clicked is enter else "anyway" if clicked is anyway else "cancel"


class FirstRunDialog(QDialog):
    """Asked once: the clinic name and the operator (both editable later in Settings)."""

    def __init__(self, prefs: Preferences, settings: Settings,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.prefs = prefs
        self.setWindowTitle(translate("SettingsDialog", "Welcome to Retina Screen"))
        icon = QLabel()
        icon.setPixmap(app_icon().pixmap(64, 64))
        heading = QLabel(translate("SettingsDialog", "Welcome to Retina Screen"))
        font = QFont(heading.font())
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        heading.setFont(font)
        intro = QLabel(translate("SettingsDialog", "Before the first screening, enter the "
                                                   "clinic name and your "
                               "name. Both are printed on every report and can be changed "
                               "later in Settings."))
        intro.setWordWrap(True)
        default_name = "" if settings.clinic_name == Settings().clinic_name else \
            settings.clinic_name
        self.clinic_name = QLineEdit(default_name)
        self.clinic_name.setPlaceholderText(translate("SettingsDialog", "e.g. Riverside "
                                                                        "Diabetes Clinic"))
        self.clinic_name.setAccessibleName(translate("SettingsDialog", "Clinic name"))
        self.operator = QLineEdit(settings.operator)
        self.operator.setPlaceholderText(translate("SettingsDialog", "e.g. A. Nurse"))
        self.operator.setAccessibleName(translate("SettingsDialog", "Operator"))
        form = QFormLayout()
        info = describe()
        form.addRow("&" + translate("SettingsDialog", info["clinic_name"].title),
                    self.clinic_name)
        form.addRow(translate("SettingsDialog", "Your &name (operator)"), self.operator)
        for name, edit in (("clinic_name", self.clinic_name), ("operator", self.operator)):
            edit.setToolTip(translate("SettingsDialog",
                                      info[name].doc[:1].upper() + info[name].doc[1:] + "."))
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText(
            translate("SettingsDialog", "Start"))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        top = QHBoxLayout()
        top.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        text = QVBoxLayout()
        text.addWidget(heading)
        text.addWidget(intro)
        top.addLayout(text, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        for edit in (self.clinic_name, self.operator):
            edit.textChanged.connect(self._update)
        self._update()
        self.resize(520, 240)

    def _update(self) -> None:
        ready = bool(self.clinic_name.text().strip() and self.operator.text().strip())
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ready)

    def accept(self) -> None:
        try:
            self.prefs.store_settings({"clinic_name": self.clinic_name.text().strip(),
                                       "operator": self.operator.text().strip()})
        except RetinaScreenError as exc:
            log.warning("first-run settings not saved: %s", exc)
        super().accept()
