"""Writing protection reports as JSON or CSV, one record per photo."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from pixelguard.atomic import write_atomically
from pixelguard.errors import PixelGuardError

REPORT_FORMATS = (".json", ".csv")


def check_report_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in REPORT_FORMATS:
        raise PixelGuardError(f"report file must end in .json or .csv, got '{path.name}'")
    return path


# A spreadsheet runs a cell starting with one of these as a formula (a file named
# "=HYPERLINK(...).jpg" would); a leading apostrophe makes it text (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value) -> str:
    if isinstance(value, list):
        if value and isinstance(value[0], dict):  # the held-out panel
            text = "; ".join(f"{check['view']} ({check['model']}): {'held' if check['held'] else 'not held'}"
                             for check in value)
        elif value and isinstance(value[0], list):  # [[label, prob], ...]
            text = "; ".join(f"{label} ({prob:.4f})" for label, prob in value)
        else:
            text = "; ".join(str(item) for item in value)
    elif isinstance(value, str):
        text = value
    else:
        return "" if value is None else str(value)  # numbers and booleans, never formulas
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def render_report(records: list[dict], suffix: str) -> str:
    if suffix == ".json":
        return json.dumps(records, indent=2, ensure_ascii=False) + "\n"
    columns: list[str] = []
    for record in records:
        columns.extend(key for key in record if key not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({key: _csv_cell(record.get(key)) for key in columns})
    return buffer.getvalue()


def write_report(records: list[dict], path: str | Path) -> Path:
    """Write atomically, so a report rewritten after every photo is never half a file."""
    path = check_report_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomically(path, render_report(records, path.suffix.lower()).encode("utf-8"))
