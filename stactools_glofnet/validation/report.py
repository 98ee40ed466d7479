"""A :class:`ValidationReport` for people (a summary table, then one line per problem) or machines."""

from __future__ import annotations

import json
from typing import Any

from stactools_glofnet.validation.problems import CHECKS, INTEGRITY, ValidationReport


def as_dict(report: ValidationReport) -> dict[str, Any]:
    """The report as plain JSON-ready data."""
    checks = {}
    for check in CHECKS:
        checked, unit = report.checked(check)
        checks[check] = {
            "checked": checked,
            "unit": unit,
            "errors": report.count(check, "error"),
            "warnings": report.count(check, "warning"),
        }
    return {
        "catalog": report.catalog,
        "valid": not report.errors,
        "objects": report.objects,
        "assets": report.assets,
        "remote_assets": report.remote_assets,
        "errors": len(report.errors),
        "warnings": len(report.warnings),
        "checks": checks,
        "problems": [
            {"severity": p.severity, "check": p.check, "rule": p.rule, "path": p.path, "message": p.message}
            for p in report.problems
        ],
    }


def as_json(report: ValidationReport) -> str:
    """The report as indented JSON."""
    return json.dumps(as_dict(report), indent=2)


def as_text(report: ValidationReport) -> str:
    """A table of checks (what each looked at, its errors and warnings), a verdict, then the problems."""
    rows = [("check", "checked", "errors", "warnings")]
    for check in CHECKS:
        checked, unit = report.checked(check)
        what = f"{checked} {unit}"
        if check == INTEGRITY and report.remote_assets:
            what += f" ({report.remote_assets} remote, not checked)"
        rows.append((check, what, str(report.count(check, "error")), str(report.count(check, "warning"))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    errors, warnings = len(report.errors), len(report.warnings)
    verdict = "valid" if not errors else "INVALID"
    lines.append(
        f"{report.catalog}: {verdict}; {report.objects} objects and {report.assets} assets checked,"
        f" {errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
    )
    lines.extend(problem.line() for problem in report.problems)
    return "\n".join(lines)
