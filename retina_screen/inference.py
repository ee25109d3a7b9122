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

from .atomic import file_sha256 as sha256_of
from .errors import ModelError
from .preprocess import SUPPORTED_PREPROCESSING, PreprocessSpec, gate_input
from .results import ICDR_LABELS, ModelInfo

log = logging.getLogger(__name__)

MANIFEST_SCHEMA = 1
_REQUIRED = ("schema", "name", "version", "file", "sha256", "input", "preprocessing", "outputs",
             "labels", "thresholds")


@dataclass(frozen=True)
class GateSpec:
    """The fundus gate: a second small network on the raw FOV crop (see the manifest)."""

    file: str
    sha256: str
    input_name: str
    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    output: str
    threshold: float


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
    gate: GateSpec | None = None
    #: The graph's calibrated logits of one view (needed to average more than one view).
    logits_output: str | None = None
    #: The views the wrapper runs through the graph and averages: "photo", then "mirror"
    #: (the photo flipped left to right). Older graphs average their views inside.
    test_time_views: tuple[str, ...] = ("photo",)
    #: sha256 of the manifest file itself (see :mod:`.trust`).
    manifest_sha256: str = ""
    #: Set by :class:`GradingModel`: the manifest, model and gate are in the trusted-model list.
    verified: bool = False

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(self.name, self.version, self.sha256, self.referable_threshold,
                         self.manifest_sha256, self.verified)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, K) logits."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def read_manifest(path: Path) -> Manifest:
    """Parse and validate a manifest file (not the model it points to)."""
    try:
        data = Path(path).read_bytes()
        raw = json.loads(data.decode("utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(f"model manifest not found: {path}") from exc
    except (OSError, ValueError) as exc:
        raise ModelError(f"model manifest is unreadable or not valid JSON: {path}") from exc
    missing = [key for key in _REQUIRED if key not in raw]
    if missing:
        raise ModelError(f"model manifest lacks {', '.join(missing)}: {path}")
    if raw["schema"] != MANIFEST_SCHEMA:
        raise ModelError(f"model manifest schema {raw['schema']} is not supported")
    if raw["preprocessing"] not in SUPPORTED_PREPROCESSING:
        raise ModelError(
            f"model expects preprocessing '{raw['preprocessing']}', this application provides "
            f"{' or '.join(repr(p) for p in SUPPORTED_PREPROCESSING)}"
        )
    try:
        spec_in = raw["input"]
        spec = PreprocessSpec(
            size=int(spec_in["size"]),
            mean=tuple(float(v) for v in spec_in["mean"]),
            std=tuple(float(v) for v in spec_in["std"]),
            preprocessing_id=str(raw["preprocessing"]),
        )
        labels = tuple(raw["labels"])
        gate = None
        if "gate" in raw:
            g = raw["gate"]
            gate = GateSpec(
                file=str(g["file"]), sha256=str(g["sha256"]).lower(),
                input_name=str(g["input"]["name"]), size=int(g["input"]["size"]),
                mean=tuple(float(v) for v in g["input"]["mean"]),
                std=tuple(float(v) for v in g["input"]["std"]),
                output=str(g["output"]), threshold=float(g["threshold"]),
            )
        threshold = float(raw["thresholds"]["referable"])
        views = tuple(str(v) for v in raw.get("test_time_views", ["photo"]))
        logits_output = raw["outputs"].get("logits")
        manifest = Manifest(
            name=str(raw["name"]), version=str(raw["version"]), file=str(raw["file"]),
            sha256=str(raw["sha256"]).lower(), input_name=str(spec_in["name"]), spec=spec,
            probabilities_output=str(raw["outputs"]["probabilities"]),
            heatmap_output=raw["outputs"].get("heatmap"), labels=labels,
            referable_threshold=threshold, raw=raw, gate=gate,
            manifest_sha256=hashlib.sha256(data).hexdigest(),
            logits_output=None if logits_output is None else str(logits_output),
            test_time_views=views,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"model manifest has an invalid field ({exc}): {path}") from exc
    if len(labels) != len(ICDR_LABELS):
        raise ModelError("model manifest must list the 5 ICDR grades as labels")
    if not 0.0 < threshold < 1.0:
        raise ModelError("model manifest's referable threshold must lie between 0 and 1")
    if views not in (("photo",), ("photo", "mirror")):
        raise ModelError(f"model manifest's test_time_views {list(views)} are not supported "
                         "(\"photo\", optionally followed by \"mirror\")")
    if len(views) > 1 and manifest.logits_output is None:
        raise ModelError("model manifest lists more than one test-time view but no logits "
                         "output to average")
    return manifest


class GradingModel:
    """A loaded, verified grading model. Load once per process; ``predict`` is thread-safe."""

    def __init__(self, manifest_path: Path, threads: int | None = None,
                 allow_unverified: bool | None = None) -> None:
        """``allow_unverified``: accept a model outside the trusted-model list (flagged);
        None takes the ``allow_unverified_model`` setting (environment, settings file)."""
        import onnxruntime as ort

        manifest_path = Path(manifest_path)
        self.manifest = read_manifest(manifest_path)
        model_path = manifest_path.parent / self.manifest.file
        if not model_path.is_file():
            raise ModelError(f"model file not found: {model_path}")
        self._verify_hash(model_path, self.manifest.sha256)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or int(os.environ.get("RETINA_SCREEN_THREADS", 0))
        options.inter_op_num_threads = 1
        # onnxruntime's own memory arena, with a graph of one view (``test_time_views``): the
        # 512 px network's activations (tens of MB each) then come from memory the session
        # keeps instead of from the C heap, whose fragmentation left each batch worker 60-100
        # MB larger, by chance, between visits (README, Memory). No memory pattern: it keeps
        # a second, planned block.
        options.enable_cpu_mem_arena = True
        options.enable_mem_pattern = False
        options.log_severity_level = 3
        self.session = self._open(ort, model_path, options)
        self.gate_session = None
        gate = self.manifest.gate
        if gate is not None:
            gate_path = manifest_path.parent / gate.file
            if not gate_path.is_file():
                raise ModelError(f"fundus gate model file not found: {gate_path}")
            self._verify_hash(gate_path, gate.sha256)
            self.gate_session = self._open(ort, gate_path, options)
            names = {i.name for i in self.gate_session.get_inputs()}
            outs = {o.name for o in self.gate_session.get_outputs()}
            if gate.input_name not in names or gate.output not in outs:
                raise ModelError("fundus gate model's input/output names do not match the manifest")
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = {o.name for o in self.session.get_outputs()}
        if self.manifest.input_name not in inputs:
            raise ModelError(f"model has no input named '{self.manifest.input_name}'")
        shape = inputs[self.manifest.input_name].shape
        if list(shape[1:]) != [3, self.manifest.spec.size, self.manifest.spec.size]:
            raise ModelError(f"model input shape {shape} does not match the manifest's size")
        averaged = len(self.manifest.test_time_views) > 1
        # With several views the probabilities come from the averaged logits instead.
        first = self.manifest.logits_output if averaged else self.manifest.probabilities_output
        wanted = {first, self.manifest.probabilities_output}
        if self.manifest.heatmap_output:
            wanted.add(self.manifest.heatmap_output)
        if not wanted <= outputs:
            raise ModelError(f"model outputs {sorted(outputs)} do not match the manifest")
        self._output_names = [first] + (
            [self.manifest.heatmap_output] if self.manifest.heatmap_output else []
        )
        self.manifest = self._check_trust(self.manifest, allow_unverified)
        log.info("loaded model %s %s (sha256 %s, %s)", self.manifest.name,
                 self.manifest.version, self.manifest.sha256[:12],
                 "trusted" if self.manifest.verified else "UNVERIFIED")

    @staticmethod
    def _check_trust(manifest: Manifest, allow_unverified: bool | None) -> Manifest:
        """Mark the manifest verified if it and its files are in the package's trusted-model
        list (the files' hashes were checked against the manifest above); otherwise refuse,
        unless unverified models are explicitly allowed."""
        from dataclasses import replace

        from .trust import find_trusted

        gate_sha = manifest.gate.sha256 if manifest.gate else None
        if find_trusted(manifest.manifest_sha256, manifest.sha256, gate_sha) is not None:
            return replace(manifest, verified=True)
        if allow_unverified is None:
            from .settings import load_settings

            allow_unverified = load_settings().allow_unverified_model
        if not allow_unverified:
            raise ModelError(
                f"model {manifest.name} {manifest.version} is not a model shipped with this "
                f"application (manifest sha256 {manifest.manifest_sha256[:12]} is not in its "
                "trusted-model list): the model or its manifest (e.g. its threshold) was "
                "replaced or edited. Reinstall the application, or set allow_unverified_model "
                "to use it anyway (every result is then marked as from an unverified model)")
        log.warning("using an UNVERIFIED model (manifest sha256 %s): every result is flagged",
                    manifest.manifest_sha256[:12])
        return replace(manifest, verified=False)

    @staticmethod
    def _verify_hash(path: Path, expected: str) -> None:
        actual = sha256_of(path)
        if actual != expected:
            raise ModelError(
                f"model file {path.name} does not match its manifest (sha256 {actual[:12]}, "
                f"expected {expected[:12]}): it is damaged or was modified; reinstall the "
                "application"
            )

    @staticmethod
    def _open(ort, path: Path, options):  # noqa: ANN001, ANN205 - onnxruntime types
        try:
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"model file {path.name} cannot be loaded: {exc}") from exc

    def p_fundus(self, crop_rgb: np.ndarray) -> float | None:
        """The fundus gate's probability for a square RGB uint8 FOV crop (None without gate)."""
        gate = self.manifest.gate
        if gate is None or self.gate_session is None:
            return None
        x = gate_input(crop_rgb, gate.size, gate.mean, gate.std)
        out = self.gate_session.run([gate.output], {gate.input_name: x[None]})
        return float(np.asarray(out[0]).reshape(-1)[0])

    @property
    def spec(self) -> PreprocessSpec:
        return self.manifest.spec

    @property
    def info(self) -> ModelInfo:
        return self.manifest.info

    def predict(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Model inputs (N, 3, S, S) float32 to (grade probabilities (N, 5), heatmaps or None).

        Each of the manifest's test-time views is run through the graph on its own, one after
        the other (holding one view's activations at a time), and their calibrated logits are
        averaged; the heatmap is the photo's own.
        """
        name = self.manifest.input_name
        outputs = self.session.run(self._output_names, {name: batch})
        heatmaps = np.asarray(outputs[1], dtype=np.float32) if len(outputs) > 1 else None
        if len(self.manifest.test_time_views) == 1:
            return np.asarray(outputs[0], dtype=np.float64), heatmaps
        logits = np.asarray(outputs[0], dtype=np.float64)
        mirrored = np.ascontiguousarray(batch[..., ::-1])
        logits = logits + np.asarray(self.session.run(self._output_names[:1], {name: mirrored})[0],
                                     dtype=np.float64)
        return softmax(logits / len(self.manifest.test_time_views)), heatmaps
