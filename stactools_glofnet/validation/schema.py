"""Each STAC document against the core schema and every extension schema it declares.

Schemas resolve offline first (:mod:`stactools_glofnet.core.schemas`); the caller installs the
validator with :func:`~stactools_glofnet.core.schemas.offline_first_validation`. A schema that can
be found nowhere is fatal: without it nothing that uses the extension can be judged.
"""

from __future__ import annotations

from jsonschema.exceptions import ValidationError, best_match
from pystac.errors import STACTypeError, STACValidationError
from pystac.validation import validate_dict
from pystac.validation.stac_validator import GetSchemaError

from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.schemas import SCHEMA_DIR_ENV
from stactools_glofnet.validation.problems import SCHEMA, Problem
from stactools_glofnet.validation.walk import StacDocument

MAX_MESSAGE = 200


def _off_branch(error: ValidationError) -> bool:
    """A failure saying the object is of another kind (a oneOf branch for Items, say)."""
    return error.validator == "const" and list(error.path)[-1:] == ["type"]


def _deepest(error: ValidationError) -> ValidationError:
    """Follow oneOf/anyOf context down to the most specific failure on the object's own branch."""
    while error.context:
        relevant = [e for e in error.context if not _off_branch(e)] or list(error.context)
        error = best_match(relevant) or relevant[0]
    return error


def one_line(error: STACValidationError) -> str:
    """The most specific failure of ``error`` as ``json/path: message (schema URL)``."""
    schema = str(error).splitlines()[0].rpartition(" against schema at ")[2]
    source = error.source
    if isinstance(source, list) and source:
        best = _deepest(best_match(source) or source[0])
        where = "/".join(str(p) for p in best.absolute_path) or "(top level)"
        message = best.message
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 3] + "..."
        return f"{where}: {message} (schema {schema})"
    return str(error).splitlines()[-1]


def _schema_url(error: GetSchemaError) -> str:
    message = str(error).removeprefix("Error when fetching schema ")
    return message.split(": ", 1)[0]


def check_schemas(document: StacDocument) -> Problem | None:
    """The first schema failure of ``document``, or None when it is valid.

    Raises :class:`GlofnetError` when a schema is in no schema directory and cannot be fetched.
    """
    try:
        validate_dict(document.data, href=str(document.path))
    except STACValidationError as error:
        return Problem("error", SCHEMA, "schema", str(document.path), f"invalid STAC: {one_line(error)}")
    except STACTypeError as error:
        return Problem(
            "error", SCHEMA, "stac-type", str(document.path), f"not identifiable as STAC ({error})"
        )
    except GetSchemaError as error:
        raise GlofnetError(
            document.path,
            f"{_schema_url(error)} is in no schema directory and the network failed;"
            f" point --schema-dir or ${SCHEMA_DIR_ENV} at a schema mirror",
        ) from None
    return None
