"""Reports: CSV cells a spreadsheet would run as formulas are neutralised."""

from __future__ import annotations

import csv
import io
import json

import pytest

from pixelguard.report import render_report


@pytest.mark.parametrize("name", ['=HYPERLINK("http://example.invalid","x").jpg', "+cmd.png", "-2+3.png",
                                  "@SUM(A1).png", "\tx.png"])
def test_csv_cells_that_would_be_formulas_become_text(name):
    text = render_report([{"input": name, "error": name, "notes": [name], "ssim": -0.5, "success": False}], ".csv")
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["input"] == row["error"] == row["notes"] == "'" + name
    assert row["ssim"] == "-0.5" and row["success"] == "False"  # numbers stay numbers


def test_csv_panel_reads_as_words():
    panel = [{"model": "lite0", "view": "OpenCV area resize", "held": True, "top1": "kite"},
             {"model": "lite0", "view": "upload (1080 px, JPEG q75)", "held": False, "top1": "parachute"}]
    row = next(csv.DictReader(io.StringIO(render_report([{"panel": panel}], ".csv"))))
    assert row["panel"] == "OpenCV area resize (lite0): held; upload (1080 px, JPEG q75) (lite0): not held"


def test_json_keeps_names_as_they_are():
    assert '"=x.jpg"' in render_report([{"input": "=x.jpg"}], ".json")


def test_outcomes_are_plain_words_in_reports_and_typed_in_records(tmp_path):
    from pixelguard.protect import Outcome, ProtectionRecord
    from pixelguard.report import write_report

    record = ProtectionRecord(input="a.png", status=Outcome.FAILED, reason="still a cat")
    write_report([record.to_dict()], tmp_path / "r.json")
    write_report([record.to_dict()], tmp_path / "r.csv")
    assert json.loads((tmp_path / "r.json").read_text())[0]["status"] == "failed"
    assert ",failed," in (tmp_path / "r.csv").read_text()
    assert ProtectionRecord.from_dict(record.to_dict()).status is Outcome.FAILED
