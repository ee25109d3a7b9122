"""The trust anchor: which grading models (manifest, model and gate files) this build ships.

A manifest beside a model can be rewritten by anyone who can write the model folder, so the
manifest's own sha256 fields prove nothing about where a model came from. The package carries,
in one file (``retina_screen/data/trusted_models.json``), the sha256 of each shipped manifest,
grading model and fundus gate. :class:`~retina_screen.inference.GradingModel` accepts a model
only when all three match an entry, or when the ``allow_unverified_model`` setting is on; such a
model is then flagged as unverified on every result, report and audit record.

Regenerate the anchor after exporting or editing a shipped model (also after any manifest edit,
e.g. a new threshold or gate section)::

    python -m retina_screen.trust --write-anchor models/dr_lite0.json

or from code: ``write_anchor(Path("models/dr_lite0.json"))``. The anchor then lists exactly the
manifests given. ``python -m retina_screen.trust --check`` verifies the shipped files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from .atomic import write_atomic
from .errors import ModelError
from .settings import PACKAGE_ROOT

log = logging.getLogger(__name__)

ANCHOR_PATH = PACKAGE_ROOT / "data" / "trusted_models.json"
ANCHOR_SCHEMA = 1
REGENERATE = "python -m retina_screen.trust --write-anchor models/<name>.json"


@dataclass(frozen=True)
class TrustedModel:
    """One anchor entry: the sha256 of a shipped manifest and of the files it names."""

    manifest: str  # file name, informational (matching is by content)
    name: str
    version: str
    manifest_sha256: str
    model_file: str
    model_sha256: str
    gate_file: str | None
    gate_sha256: str | None


def load_anchor(path: Path = ANCHOR_PATH) -> tuple[TrustedModel, ...]:
    """The trusted models; an unreadable or missing anchor trusts nothing (never raises)."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        if raw.get("schema") != ANCHOR_SCHEMA:
            raise ValueError(f"schema {raw.get('schema')!r}")
        return tuple(TrustedModel(
            manifest=str(e["manifest"]), name=str(e["name"]), version=str(e["version"]),
            manifest_sha256=str(e["manifest_sha256"]).lower(), model_file=str(e["model_file"]),
            model_sha256=str(e["model_sha256"]).lower(),
            gate_file=e.get("gate_file"),
            gate_sha256=str(e["gate_sha256"]).lower() if e.get("gate_sha256") else None,
        ) for e in raw["models"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.error("the trusted-model list %s is missing or damaged (%s): no model is trusted",
                  Path(path).name, exc)
        return ()


THRESHOLDS_PATH = PACKAGE_ROOT / "data" / "quality_thresholds.json"


def thresholds_digest(raw: dict) -> str:
    """The sha256 of quality thresholds' content (their JSON, keys sorted, no spacing): the
    same on every system, whatever its line endings or the file's layout."""
    text = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _thresholds_entry(path: Path = THRESHOLDS_PATH) -> dict:
    """The quality gate's thresholds as the anchor lists them: their version and digest."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    return {"version": str(raw["version"]), "sha256": thresholds_digest(raw)}


def anchored_thresholds_sha256(version: str, anchor: Path = ANCHOR_PATH) -> str | None:
    """The sha256 this build ships for the quality thresholds labelled ``version``; None
    when the anchor does not list that label (another label is another gate, recorded as
    such) or lists no thresholds."""
    try:
        entry = json.loads(Path(anchor).read_text(encoding="utf-8")).get("quality_thresholds")
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("version") != version:
        return None
    return str(entry.get("sha256", "")).lower() or None


def find_trusted(manifest_sha256: str, model_sha256: str, gate_sha256: str | None,
                 anchor: Path = ANCHOR_PATH) -> TrustedModel | None:
    """The anchor entry matching these three hashes exactly, or None."""
    for entry in load_anchor(anchor):
        if (entry.manifest_sha256 == manifest_sha256.lower()
                and entry.model_sha256 == model_sha256.lower()
                and entry.gate_sha256 == (gate_sha256.lower() if gate_sha256 else None)):
            return entry
    return None


def describe_files(manifest_path: Path) -> TrustedModel:
    """Hash a manifest and the files it names; the files must match the manifest's sha256."""
    from .inference import sha256_of

    manifest_path = Path(manifest_path)
    data = manifest_path.read_bytes()
    raw = json.loads(data)
    folder = manifest_path.parent
    model_sha = sha256_of(folder / raw["file"])
    if model_sha != str(raw["sha256"]).lower():
        raise ModelError(f"{raw['file']} does not match the sha256 in {manifest_path.name}")
    gate = raw.get("gate")
    gate_sha = None
    if gate:
        gate_sha = sha256_of(folder / gate["file"])
        if gate_sha != str(gate["sha256"]).lower():
            raise ModelError(f"{gate['file']} does not match the sha256 in {manifest_path.name}")
    return TrustedModel(
        manifest=manifest_path.name, name=str(raw["name"]), version=str(raw["version"]),
        manifest_sha256=hashlib.sha256(data).hexdigest(), model_file=str(raw["file"]),
        model_sha256=model_sha, gate_file=gate["file"] if gate else None, gate_sha256=gate_sha)


def write_anchor(*manifest_paths: Path, anchor: Path = ANCHOR_PATH) -> Path:
    """Make the anchor list exactly these manifests (and their model and gate files).

    The manifests are validated as the application reads them, and their files must match the
    manifest's sha256 fields. Call it after every change to a shipped model or manifest.
    """
    from .inference import read_manifest

    if not manifest_paths:
        raise ValueError("give at least one manifest")
    entries = []
    for path in manifest_paths:
        read_manifest(Path(path))  # the same validation as when screening
        entries.append(describe_files(Path(path)).__dict__)
    payload = {
        "schema": ANCHOR_SCHEMA,
        "about": "sha256 of the grading models this build ships (manifest, model, fundus gate) "
                 "and of its quality thresholds. Regenerate after any change to them: "
                 f"{REGENERATE}",
        "models": entries,
        "quality_thresholds": _thresholds_entry(),
    }
    write_atomic(Path(anchor), (json.dumps(payload, indent=2) + "\n").encode("utf-8"), 0o644)
    log.info("trust anchor written for %d model(s)", len(entries))
    return Path(anchor)


def check_anchor(anchor: Path = ANCHOR_PATH, models_dir: Path | None = None) -> list[str]:
    """Problems with the anchor: each entry must match the files in ``models_dir``."""
    from .settings import RESOURCE_ROOT

    models_dir = models_dir or RESOURCE_ROOT / "models"
    entries = load_anchor(anchor)
    if not entries:
        return [f"the trusted-model list {anchor} is missing, damaged or empty"]
    problems = []
    for entry in entries:
        path = models_dir / entry.manifest
        try:
            actual = describe_files(path)
        except (OSError, ValueError, KeyError, ModelError) as exc:
            problems.append(f"{entry.manifest}: cannot be hashed ({exc})")
            continue
        if actual != entry:
            problems.append(f"{entry.manifest}: the files differ from the trusted-model list")
    shipped = _thresholds_entry()
    if anchored_thresholds_sha256(shipped["version"], anchor) != shipped["sha256"]:
        problems.append("the quality thresholds differ from the trusted list (regenerate it "
                        f"after editing them: {REGENERATE})")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m retina_screen.trust",
        description="Write or check the list of trusted (shipped) grading models.")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write-anchor", nargs="+", type=Path, metavar="MANIFEST",
                       help="trust exactly these manifests (and the files they name)")
    group.add_argument("--check", action="store_true", help="check the shipped models")
    args = parser.parse_args(argv)
    if args.write_anchor:
        try:
            path = write_anchor(*args.write_anchor)
        except (OSError, ValueError, KeyError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except ModelError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        for entry in load_anchor(path):
            print(f"trusted: {entry.manifest} ({entry.name} {entry.version}) manifest "
                  f"{entry.manifest_sha256[:12]}, model {entry.model_sha256[:12]}, gate "
                  f"{(entry.gate_sha256 or '-')[:12]}")
        print(f"written: {path}")
        return 0
    problems = check_anchor()
    for problem in problems:
        print(f"problem: {problem}")
    if not problems:
        print("trusted-model list matches the shipped models")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
