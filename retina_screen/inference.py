"""The one inference wrapper: an onnxruntime session driven by the manifest beside the ``.onnx``.

The manifest (``<model>.json``) names the input, its size and normalisation, the preprocessing,
the outputs, the class labels, the referable-DR operating threshold, the version and the sha256
of the ``.onnx``. All of it is checked when the model is loaded; any mismatch raises
:class:`ModelError` and nothing is screened.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ModelError
from .preprocess import PREPROCESSING_ID, PreprocessSpec
from .results import ICDR_LABELS, ModelInfo

log = logging.getLogger(__name__)

MANIFEST_SCHEMA = 1
_REQUIRED = ("schema", "name", "version", "file", "sha256", "input", "preprocessing", "outputs",
             "labels", "thresholds")


@dataclass(frozen=True)
class Manifest:
    """The parsed model manifest."""

    name: str
    version: str
    file: str
    sha256: str
    input_name: str
    spec: PreprocessSpec
    probabilities_output: str
    heatmap_output: str | None
    labels: tuple[str, ...]
    referable_threshold: float
    raw: dict

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(self.name, self.version, self.sha256, self.referable_threshold)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(path: Path) -> Manifest:
    """Parse and validate a manifest file (not the model it points to)."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(f"model manifest not found: {path}") from exc
    except (OSError, ValueError) as exc:
        raise ModelError(f"model manifest is unreadable or not valid JSON: {path}") from exc
    missing = [key for key in _REQUIRED if key not in raw]
    if missing:
        raise ModelError(f"model manifest lacks {', '.join(missing)}: {path}")
    if raw["schema"] != MANIFEST_SCHEMA:
        raise ModelError(f"model manifest schema {raw['schema']} is not supported")
    if raw["preprocessing"] != PREPROCESSING_ID:
        raise ModelError(
            f"model expects preprocessing '{raw['preprocessing']}', this application provides "
            f"'{PREPROCESSING_ID}'"
        )
    try:
        spec_in = raw["input"]
        spec = PreprocessSpec(
            size=int(spec_in["size"]),
            mean=tuple(float(v) for v in spec_in["mean"]),
            std=tuple(float(v) for v in spec_in["std"]),
        )
        labels = tuple(raw["labels"])
        threshold = float(raw["thresholds"]["referable"])
        manifest = Manifest(
            name=str(raw["name"]), version=str(raw["version"]), file=str(raw["file"]),
            sha256=str(raw["sha256"]).lower(), input_name=str(spec_in["name"]), spec=spec,
            probabilities_output=str(raw["outputs"]["probabilities"]),
            heatmap_output=raw["outputs"].get("heatmap"), labels=labels,
            referable_threshold=threshold, raw=raw,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"model manifest has an invalid field ({exc}): {path}") from exc
    if len(labels) != len(ICDR_LABELS):
        raise ModelError("model manifest must list the 5 ICDR grades as labels")
    if not 0.0 < threshold < 1.0:
        raise ModelError("model manifest's referable threshold must lie between 0 and 1")
    return manifest


class GradingModel:
    """A loaded, verified grading model. Load once per process; ``predict`` is thread-safe."""

    def __init__(self, manifest_path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        manifest_path = Path(manifest_path)
        self.manifest = read_manifest(manifest_path)
        model_path = manifest_path.parent / self.manifest.file
        if not model_path.is_file():
            raise ModelError(f"model file not found: {model_path}")
        actual = sha256_of(model_path)
        if actual != self.manifest.sha256:
            raise ModelError(
                f"model file {model_path.name} does not match its manifest (sha256 {actual[:12]}, "
                f"expected {self.manifest.sha256[:12]}): it is damaged or was modified; "
                "reinstall the application"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or int(os.environ.get("RETINA_SCREEN_THREADS", 0))
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                str(model_path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"model file {model_path.name} cannot be loaded: {exc}") from exc
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = {o.name for o in self.session.get_outputs()}
        if self.manifest.input_name not in inputs:
            raise ModelError(f"model has no input named '{self.manifest.input_name}'")
        shape = inputs[self.manifest.input_name].shape
        if list(shape[1:]) != [3, self.manifest.spec.size, self.manifest.spec.size]:
            raise ModelError(f"model input shape {shape} does not match the manifest's size")
        wanted = {self.manifest.probabilities_output}
        if self.manifest.heatmap_output:
            wanted.add(self.manifest.heatmap_output)
        if not wanted <= outputs:
            raise ModelError(f"model outputs {sorted(outputs)} do not match the manifest")
        self._output_names = [self.manifest.probabilities_output] + (
            [self.manifest.heatmap_output] if self.manifest.heatmap_output else []
        )
        log.info("loaded model %s %s (sha256 %s)", self.manifest.name, self.manifest.version,
                 actual[:12])

    @property
    def spec(self) -> PreprocessSpec:
        return self.manifest.spec

    @property
    def info(self) -> ModelInfo:
        return self.manifest.info

    def predict(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Model inputs (N, 3, S, S) float32 to (grade probabilities (N, 5), heatmaps or None)."""
        outputs = self.session.run(self._output_names, {self.manifest.input_name: batch})
        probabilities = np.asarray(outputs[0], dtype=np.float64)
        heatmaps = np.asarray(outputs[1], dtype=np.float32) if len(outputs) > 1 else None
        return probabilities, heatmaps
