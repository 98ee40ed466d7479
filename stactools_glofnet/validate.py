"""Validation of a built catalog: the public entry point (the work is in :mod:`.validation`)."""

from stactools_glofnet.validation import (
    CHECKS,
    Problem,
    ValidationReport,
    as_dict,
    as_json,
    as_text,
    check_catalog,
    validate_catalog,
)

__all__ = [
    "CHECKS",
    "Problem",
    "ValidationReport",
    "as_dict",
    "as_json",
    "as_text",
    "check_catalog",
    "validate_catalog",
]
