"""The fault suite's table of every scenario's numbers, printed at the end of the run.

Each scenario writes test-output/faults/<scenario>.json as it ends (harness.record). The table is
read back from those files, not from memory: with the suite spread over several pytest worker
processes (pytest-xdist), the process that prints the summary ran no scenario itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.faults.harness import RESULTS_DIR, SCALE_NAME

COLUMNS = ("scenario", "accepted", "delivered", "duplicates", "lost", "failed_by_design", "faults", "seconds")
SUMMARY = "summary.json"


def results_since(started: float, directory: Path = RESULTS_DIR) -> list[dict[str, Any]]:
    """The scenarios this run recorded (files written since ``started``, a time.time()), in the
    order they ended."""
    if not directory.is_dir():
        return []
    files = [path for path in directory.glob("*.json") if path.name != SUMMARY and path.stat().st_mtime >= started]
    return [json.loads(path.read_text()) for path in sorted(files, key=lambda path: path.stat().st_mtime)]


def table(results: list[dict[str, Any]]) -> list[str]:
    cells = [[str(result.get(column, "")) for column in COLUMNS] for result in results]
    widths = [max(len(column), *(len(row[i]) for row in cells)) for i, column in enumerate(COLUMNS)]

    def line(values: list[str] | tuple[str, ...]) -> str:
        return "  ".join(
            value.ljust(width) if i == 0 else value.rjust(width)
            for i, (value, width) in enumerate(zip(values, widths, strict=True))
        )

    return [line(COLUMNS), line(["-" * width for width in widths]), *(line(row) for row in cells)]


def report(terminalreporter: Any, started: float) -> None:
    """Write summary.json and print the table, when this run recorded any scenario."""
    results = results_since(started)
    if not results:
        return
    (RESULTS_DIR / SUMMARY).write_text(json.dumps({"scale": SCALE_NAME, "scenarios": results}, indent=2) + "\n")
    terminalreporter.section(f"fault suite ({SCALE_NAME} form): events per scenario")
    for text in table(results):
        terminalreporter.write_line(text)
    terminalreporter.write_line(
        "accepted: events of payments the API acknowledged (2xx); delivered: of those, the ones the receiver "
        "accepted with a valid signature; duplicates: repeats of an event id; lost = accepted - delivered; "
        "faults: kills, restarts, faulty receiver answers (down periods for down/flapping), requests refused "
        "while the disk was full"
    )
    terminalreporter.write_line(f"results: {RESULTS_DIR}/<scenario>.json, {SUMMARY}")
