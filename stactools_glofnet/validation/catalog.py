"""Validate a whole catalog: walk it once, run every check on each object, gather the problems.

The files of the next few documents are read (digests, rio-cogeo) on a thread pool, one thread
per CPU, while the documents before them are checked in walk order: hashing and GDAL release
the GIL, and the report lists the same problems in the same order as one thread would.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from stactools_glofnet.core.cores import usable_cores
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.progress import progress
from stactools_glofnet.core.schemas import OfflineFirstValidator, offline_first_validation
from stactools_glofnet.validation.cache import ValidationCache, validation_key
from stactools_glofnet.validation.integrity import AssetChecker
from stactools_glofnet.validation.lint import lint
from stactools_glofnet.validation.problems import Problem, ValidationReport
from stactools_glofnet.validation.schema import check_schemas
from stactools_glofnet.validation.walk import StacDocument, read_root, walk

logger = logging.getLogger(__name__)

DOCUMENTS_AHEAD_PER_THREAD = 4
"""Documents whose files are being read ahead of the one being checked, per thread."""


def reading_threads() -> int:
    """Threads that read asset files: the CPUs this process may run on."""
    return usable_cores()


def _walked(
    root: StacDocument, report: ValidationReport
) -> Iterator[tuple[list[Problem], StacDocument | None]]:
    """Each document of :func:`walk` with the problems the walk found just before it.

    The problems are held back so that a check running behind the walk can add them in their
    place; the last pair (document None) holds what the walk found after the last document.
    """
    walked = ValidationReport(catalog=report.catalog)
    for document in walk(root, walked):
        before, walked.problems = walked.problems, []
        yield before, document
    yield walked.problems, None


def _schema_problem(
    document: StacDocument, validator: OfflineFirstValidator, cache: ValidationCache | None
) -> Problem | None:
    """:func:`check_schemas`, skipped for bytes ``cache`` remembers as valid; new passes are remembered.

    A pass is remembered only while the validator has used nothing but its pre-loaded schemas,
    the ones the cache's key covers.
    """
    if cache is None or document.sha256 is None:
        return check_schemas(document)
    if cache.valid_document(document.sha256):
        return None
    problem = check_schemas(document)
    if problem is None and validator.only_preloaded():
        cache.add_valid_document(document.sha256)
    return problem


def check_catalog(
    path: Path, schema_dirs: Sequence[Path] = (), cache: ValidationCache | None = None
) -> ValidationReport:
    """Check every object of the catalog at ``path`` and every local asset; never fails on findings.

    ``path`` is a catalog directory (its ``catalog.json``, or ``collection.json`` when that is all
    it has) or a root Catalog, Collection or Item file. Schema, lint and integrity findings are collected in
    the report. Raises :class:`GlofnetError` only when validation cannot run at all: no readable
    root, a schema directory that does not exist, or a schema that is nowhere to be found.

    With a ``cache`` (:mod:`~stactools_glofnet.validation.cache`), schema checks and rio-cogeo
    validations already done on the same bytes, schemas and software are taken from it, and
    the ones done now are added; a cache made under other schemas is emptied first.
    """
    root = read_root(path)
    report = ValidationReport(catalog=str(path))
    threads = reading_threads()
    with offline_first_validation(schema_dirs) as validator, ThreadPoolExecutor(threads) as pool:
        if cache is not None:
            cache.for_schemas(validation_key(validator))
        assets = AssetChecker(root.path.parent, cache, pool)

        def check(before: list[Problem], document: StacDocument | None) -> None:
            report.problems.extend(before)
            if document is None:
                return
            report.objects += 1
            problem = _schema_problem(document, validator, cache)
            if problem is not None:
                report.add(problem)
            for finding in lint(document):
                report.add(finding)
            assets.check(document, report)

        ahead: deque[tuple[list[Problem], StacDocument | None]] = deque()
        for before, document in progress(_walked(root, report), desc="validate", unit="object"):
            if document is not None:
                assets.prefetch(document)
            ahead.append((before, document))
            if len(ahead) > DOCUMENTS_AHEAD_PER_THREAD * threads:
                check(*ahead.popleft())
        while ahead:
            check(*ahead.popleft())
    return report


def validate_catalog(
    path: Path, schema_dirs: Sequence[Path] = (), cache: ValidationCache | None = None
) -> ValidationReport:
    """Like :func:`check_catalog`, but raise :class:`GlofnetError` when there is any error.

    The error names the first problem and how many more there are, so a build refuses to publish
    an invalid catalog; warnings are logged and do not fail.
    """
    report = check_catalog(path, schema_dirs, cache)
    base = path if path.is_dir() else path.parent
    for warning in report.warnings:
        # Relative paths: a build validates in a staging directory that then moves to DEST.
        logger.warning("%s %s: %s", warning.check, os.path.relpath(warning.path, base), warning.message)
    errors = report.errors
    if errors:
        first = errors[0]
        more = len(errors) - 1
        suffix = f" (and {more} more error{'s' * (more != 1)}; run stac glofnet validate to list them)"
        raise GlofnetError(first.path, f"{first.check}: {first.message}{suffix if more else ''}")
    return report
