"""Validation of a built catalog: schemas, STAC best practices and asset integrity, one module each.

- :mod:`~.walk` streams the catalog's documents (structure problems: unreadable files, broken links)
- :mod:`~.schema` checks each document against the core and every declared extension schema
- :mod:`~.lint` checks STAC best practices (warnings)
- :mod:`~.integrity` checks each local asset's presence, size, checksum and format
- :mod:`~.report` renders the findings as a table and problem lines, or as JSON
- :mod:`~.catalog` runs them all: :func:`check_catalog` reports, :func:`validate_catalog` raises
"""

from stactools_glofnet.validation.catalog import check_catalog, validate_catalog
from stactools_glofnet.validation.problems import CHECKS, Problem, ValidationReport
from stactools_glofnet.validation.report import as_dict, as_json, as_text

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
