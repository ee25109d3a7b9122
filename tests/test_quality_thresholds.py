"""The quality gate's thresholds file is checked when it is loaded, not photo by photo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retina_screen.errors import ConfigError
from retina_screen.quality import THRESHOLDS_FILE, load_thresholds


def _edited(tmp_path: Path, edit) -> Path:  # noqa: ANN001
    raw = json.loads(THRESHOLDS_FILE.read_text(encoding="utf-8"))
    edit(raw)
    path = tmp_path / "quality_thresholds.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    return path


def test_the_shipped_thresholds_load_with_every_rule_and_the_borderline_rules() -> None:
    thresholds = load_thresholds()
    raw = json.loads(THRESHOLDS_FILE.read_text(encoding="utf-8"))
    assert thresholds.version == raw["version"]
    assert [r.check for r in thresholds.quality_rules] == [r["check"] for r in raw["quality"]]
    assert [r.check for r in thresholds.fundus_rules] == [r["check"] for r in raw["fundus"]]
    assert [r.check for r in thresholds.frame_rules] == [r["check"] for r in raw["frame"]]
    assert [r.check for r in thresholds.borderline] == [r["check"] for r in raw["borderline"]]
    # Every reason fits the one-line contract the bad-input tests check (tests/safety).
    rules = (*thresholds.frame_rules, *thresholds.fundus_rules, *thresholds.quality_rules,
             *thresholds.borderline)
    assert all(len(r.reason) < 200 for r in rules), [r.check for r in rules
                                                     if len(r.reason) >= 200]
    dim = thresholds.borderline_rule("dim_borderline")
    assert dim is not None and dict(dim.below) == raw["borderline"][0]["below"]
    assert dim.above == ()
    bright = thresholds.borderline_rule("bright_borderline")
    assert bright is not None and bright.below == ()
    assert dict(bright.above) == next(r["above"] for r in raw["borderline"]
                                      if r["check"] == "bright_borderline")


def test_a_misspelled_measure_stops_loading_and_names_the_rule(tmp_path: Path) -> None:
    def misspell(raw: dict) -> None:
        raw["quality"][0]["measure"] = "brightnes"

    with pytest.raises(ConfigError, match="unknown measure 'brightnes'"):
        load_thresholds(_edited(tmp_path, misspell))


def test_an_unknown_kind_or_a_missing_threshold_stops_loading(tmp_path: Path) -> None:
    def bad_kind(raw: dict) -> None:
        raw["fundus"][0]["kind"] = "at_least"

    def no_threshold(raw: dict) -> None:
        del raw["quality"][1]["threshold"]

    with pytest.raises(ConfigError, match="kind 'at_least'"):
        load_thresholds(_edited(tmp_path, bad_kind))
    with pytest.raises(ConfigError, match="incomplete"):
        load_thresholds(_edited(tmp_path, no_threshold))


def test_a_borderline_rule_needs_known_measures_and_a_sane_margin(tmp_path: Path) -> None:
    def unknown_dim_measure(raw: dict) -> None:
        raw["borderline"][0]["below"] = {"green": 43.75}

    def margin_too_large(raw: dict) -> None:
        raw["borderline"][0]["margin"] = 1.5

    def unknown_above_measure(raw: dict) -> None:
        raw["borderline"][0]["above"] = {"glare": 200.0}

    def no_levels(raw: dict) -> None:
        del raw["borderline"][0]["below"]

    with pytest.raises(ConfigError, match="unknown: green"):
        load_thresholds(_edited(tmp_path, unknown_dim_measure))
    with pytest.raises(ConfigError, match="unknown: glare"):
        load_thresholds(_edited(tmp_path, unknown_above_measure))
    with pytest.raises(ConfigError, match="none given"):
        load_thresholds(_edited(tmp_path, no_levels))
    with pytest.raises(ConfigError, match="margin 1.5"):
        load_thresholds(_edited(tmp_path, margin_too_large))


def test_an_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    broken = tmp_path / "quality_thresholds.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="unreadable"):
        load_thresholds(broken)


def test_a_rule_can_only_require_an_earlier_check(tmp_path: Path) -> None:
    """``requires`` names checks evaluated before the rule (a typo, or a check listed after
    it, would otherwise skip the rule on every photo)."""
    def require_later(raw: dict) -> None:
        raw["quality"][0]["requires"] = ["contrast"]

    def require_unknown(raw: dict) -> None:
        overlay = next(r for r in raw["quality"] if r["check"] == "overlay")
        overlay["requires"] = ["colour_balanse"]

    def require_text(raw: dict) -> None:
        raw["quality"][3]["requires"] = "colour"

    def require_fundus(raw: dict) -> None:
        raw["quality"][0]["requires"] = ["fundus:field"]

    load_thresholds(_edited(tmp_path, require_fundus))  # every fundus rule comes first
    with pytest.raises(ConfigError, match="requires contrast"):
        load_thresholds(_edited(tmp_path, require_later))
    with pytest.raises(ConfigError, match="requires colour_balanse"):
        load_thresholds(_edited(tmp_path, require_unknown))
    with pytest.raises(ConfigError, match="incomplete"):
        load_thresholds(_edited(tmp_path, require_text))


def test_a_rule_is_skipped_only_where_a_check_it_requires_did_not_pass() -> None:
    """The overlay check assumes a retina's own colours: it is evaluated where the colour
    balance check passed, and skipped (no check, no reason) where that check failed or was
    itself skipped (a red-free export fails the colour check first)."""
    from dataclasses import MISSING, fields, replace

    from retina_screen.quality import QualityMeasures, assess

    thresholds = load_thresholds()
    balance = next(r for r in thresholds.quality_rules if r.check == "colour_balance")
    # Other measures do not matter here (each check is looked up by name).
    some = {f.name: 1.0 for f in fields(QualityMeasures) if f.default is MISSING}
    natural = replace(QualityMeasures(**some), coverage=0.9, chroma=50.0, redness=0.55,
                      hue_spread=0.0, red_green=1.6, overlay=0.05)
    report = assess(natural, thresholds)
    assert report.check("colour_balance").passed
    assert not report.check("overlay").passed  # drawn strokes on a natural photo: refused
    grey = replace(natural, redness=balance.threshold - 0.01)
    report = assess(grey, thresholds)
    assert not report.check("colour_balance").passed and report.check("overlay") is None
    assert not any("text or graphics" in reason for reason in report.reasons)
    hues = [c for c in assess(replace(natural, hue_spread=0.5), thresholds).checks
            if c.name in ("colour_balance", "overlay")]
    assert [(c.name, c.passed) for c in hues] == [("colour_balance", True),
                                                  ("colour_balance", False)]
    red_free = replace(natural, red_green=0.5, redness=0.2)
    report = assess(red_free, thresholds)
    assert not report.check("colour").passed
    assert report.check("colour_balance") is None and report.check("overlay") is None
    # A grey-scale photo fails the fundus colour rule: its reasons say so, not "colours
    # altered by software" (a quality rule may require a fundus rule).
    grey = replace(natural, chroma=0.0, redness=1 / 3, red_green=1.0)
    report = assess(grey, thresholds)
    assert not report.is_fundus
    assert report.check("colour_balance") is None and report.check("overlay") is None
    assert not any("colours altered" in reason for reason in report.reasons)
