"""Offline-first JSON Schema resolution for pystac validation.

Schema URLs resolve, in order, from the directories named by ``--schema-dir`` or
``$GLOFNET_SCHEMA_DIR`` (laid out by URL: ``https://host/path`` is ``DIR/host/path``), from the
package's own schemas, from the user cache, and last from the network; schemas fetched from the
network are saved into the user cache so the next run works offline.

jsonschema judges every document. A draft-04/06/07 schema used for many documents is also
compiled to Python code by fastjsonschema, about twenty times faster; a document it passes is
valid, and one it fails goes to jsonschema, which decides and says why (fastjsonschema also
checks ``format``, which jsonschema leaves alone by default, so it can only be the stricter).
The code is kept in the user cache, keyed by the schema, every schema it could reference and
the fastjsonschema and Python versions, so later runs use it from a schema's first document
without compiling again.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import marshal
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, Final
from urllib.parse import urldefrag, urlparse

import fastjsonschema
import jsonschema
import jsonschema.exceptions
import jsonschema.validators
from fastjsonschema.ref_resolver import RefResolver
from pystac import STACObjectType
from pystac.errors import STACValidationError
from pystac.validation import JsonSchemaSTACValidator, RegisteredValidator

from stactools_glofnet.core.cache import user_cache_dir
from stactools_glofnet.core.errors import GlofnetError

logger = logging.getLogger(__name__)
SCHEMA_DIR_ENV = "GLOFNET_SCHEMA_DIR"
PACKAGE_SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
COMPILE_AFTER: Final = 32
"""Documents checked against a schema before it is compiled (compiling costs ~10-200 ms)."""
COMPILED_DRAFTS: Final = {
    (cls.META_SCHEMA.get("$id") or cls.META_SCHEMA["id"]).rstrip("#"): cls.META_SCHEMA
    for cls in (jsonschema.Draft4Validator, jsonschema.Draft6Validator, jsonschema.Draft7Validator)
}
"""The JSON Schema drafts fastjsonschema implements, by meta-schema URL, with their meta-schemas."""


def schema_cache_dir() -> Path:
    """Where schemas fetched from the network are kept."""
    return user_cache_dir() / "schemas"


def compiled_cache_dir() -> Path:
    """Where the Python code fastjsonschema wrote for a schema is kept."""
    return user_cache_dir() / "compiled-schemas"


def configured_schema_dirs(explicit: Sequence[Path] = ()) -> list[Path]:
    """Schema directories in lookup order: explicit, environment, package, user cache."""
    dirs = list(explicit)
    env = os.environ.get(SCHEMA_DIR_ENV)
    if env:
        dirs.extend(Path(part) for part in env.split(os.pathsep) if part)
    for directory in dirs:
        if not directory.is_dir():
            raise GlofnetError(directory, "schema directory does not exist")
    return [*dirs, PACKAGE_SCHEMAS, schema_cache_dir()]


def _schemas_in(directory: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    if not directory.is_dir():
        return
    for path in sorted(directory.rglob("*.json")):
        relative = path.relative_to(directory).as_posix()
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise GlofnetError(path, f"schema is not valid JSON ({error})") from None
        yield "https://" + relative, schema
        yield "http://" + relative, schema


class OfflineFirstValidator(JsonSchemaSTACValidator):
    """pystac's JSON Schema validator with its schema cache filled from local directories."""

    def __init__(self, schema_dirs: Sequence[Path]) -> None:
        """Pre-load every schema found in ``schema_dirs``; earlier directories win."""
        super().__init__()
        for directory in reversed(schema_dirs):
            for url, schema in _schemas_in(directory):
                self.schema_cache[url] = schema
        self._preloaded = set(self.schema_cache)
        self._loaded = frozenset(self.schema_cache)  # as constructed; _preloaded grows with saved fetches
        self._digest: str | None = None
        self._validators: dict[str, Any] = {}
        self._uses: dict[str, int] = {}
        self._compiled: dict[str, Any] = {}

    def schemas_digest(self) -> str:
        """SHA-256 over the schemas pre-loaded at construction: each URL and its canonical JSON, sorted."""
        if self._digest is None:
            sha = hashlib.sha256()
            for url in sorted(self._loaded):
                text = json.dumps(self.schema_cache[url], sort_keys=True, separators=(",", ":"))
                sha.update(f"{url}\n{text}\n".encode())
            self._digest = sha.hexdigest()
        return self._digest

    def only_preloaded(self) -> bool:
        """Whether every schema used so far was pre-loaded (none fetched from a URL or a local path).

        Only then is a validation a function of the document and :meth:`schemas_digest`: pystac
        resolves a relative extension URL against the document's own path, for one.
        """
        return self._loaded.issuperset(self.schema_cache)

    def _validate_from_uri(
        self,
        stac_dict: dict[str, Any],
        stac_object_type: STACObjectType,
        schema_uri: str,
        href: str | None = None,
    ) -> None:
        """Validate against ``schema_uri``: compiled code first, else a validator built once.

        pystac checks the schema against its meta-schema and builds a registry of every cached
        schema for each document and schema: most of a catalog's validation time.
        """
        if self._passes_compiled(stac_dict, schema_uri):
            return
        validator = self._validators.get(schema_uri)
        if validator is None:
            schema = self._get_schema(schema_uri)
            kind = jsonschema.validators.validator_for(schema)
            kind.check_schema(schema)
            validator = self._validators[schema_uri] = kind(schema, registry=self.registry)
        errors = list(validator.iter_errors(stac_dict))
        if not errors:
            return
        where = f"at {href} " if href is not None else ""
        named = f"with ID {stac_dict['id']} " if stac_dict.get("id") is not None else ""
        message = f"Validation failed for {stac_object_type} {where}{named}against schema at {schema_uri}"
        best = jsonschema.exceptions.best_match(errors)
        if best is not None:
            message += "\n" + str(best)
        raise STACValidationError(message, source=errors) from best

    def _passes_compiled(self, stac_dict: dict[str, Any], schema_uri: str) -> bool:
        """Whether the compiled ``schema_uri`` passes the document (False: not compiled yet, or fails)."""
        compiled = self._compiled.get(schema_uri)
        if compiled is None:
            uses = self._uses[schema_uri] = self._uses.get(schema_uri, 0) + 1
            if uses == 1 and COMPILE_AFTER < NEVER:
                compiled = self._kept_code(schema_uri)
                if compiled is not None:
                    self._compiled[schema_uri] = compiled
            if compiled is None:
                if uses < COMPILE_AFTER:
                    return False
                compiled = self._compiled[schema_uri] = self._compile(schema_uri)
        if compiled is False:
            return False
        try:
            compiled(stac_dict)
        except fastjsonschema.JsonSchemaValueException:
            return False
        return True

    def _compile(self, schema_uri: str) -> Any:
        """fastjsonschema's validator for ``schema_uri``, or False when it cannot be compiled.

        Only schemas of the drafts it implements are compiled; a reference it cannot resolve or
        a construct it does not support leaves the schema to jsonschema alone.
        """
        schema = self._get_schema(schema_uri)
        if str(schema.get("$schema", "")).rstrip("#") not in COMPILED_DRAFTS:
            return False
        try:
            # Copies: fastjsonschema rewrites the $refs of the schemas it is given, in place. And no
            # defaults: by default it writes a schema's `default` values into the document it checks.
            handlers = {"https": self._resolve, "http": self._resolve}
            code = fastjsonschema.compile_to_code(copy.deepcopy(schema), handlers=handlers, use_default=False)
            name = RefResolver.from_schema(copy.deepcopy(schema), handlers=handlers).get_scope_name()
        except Exception as error:  # fastjsonschema raises many types for what it cannot compile
            logger.debug("not compiling %s: %s: %s", schema_uri, type(error).__name__, error)
            return False
        # compile() gives the code Decimal itself; the code written out imports it only when no
        # draft-04 pattern replaced fastjsonschema's list of imports (2.22: "import re" alone)
        code = f"from decimal import Decimal\n{code}\n\n{ENTRY} = {name}\n"
        module = ModuleType("glofnet_compiled_schema")
        bytecode = compile(code, f"<compiled {schema_uri}>", "exec")
        exec(bytecode, module.__dict__)
        path = self._code_path(schema_uri)
        if path is not None:  # only code made from preloaded schemas alone is kept
            try:
                _write_atomically(path, marshal.dumps(bytecode))
            except OSError as error:
                logger.debug("not keeping the compiled %s: %s", schema_uri, error)
        return _entry(module)

    def _code_path(self, schema_uri: str) -> Path | None:
        """Where the compiled code of ``schema_uri`` is kept; None when it may depend on schemas
        not pre-loaded (fetched, or resolved against a document's path)."""
        if not self.only_preloaded():
            return None
        text = json.dumps(
            [fastjsonschema.VERSION, sys.implementation.cache_tag, schema_uri, self.schemas_digest()]
        )
        return compiled_cache_dir() / f"{hashlib.sha256(text.encode()).hexdigest()}.bytecode"

    def _kept_code(self, schema_uri: str) -> Any:
        """The compiled validator of ``schema_uri`` kept by an earlier run; None when there is none."""
        path = self._code_path(schema_uri)
        if path is None or not path.is_file():
            return None
        try:
            return _entry(_load_module(path))
        except Exception as error:  # any unusable file is compiled again (and replaced)
            logger.debug("ignoring the kept compiled schema %s: %s", path, error)
            return None

    def _resolve(self, uri: str) -> Any:
        """A referenced schema: a draft's meta-schema, else as pystac finds it (cache, then network)."""
        url = urldefrag(uri).url
        return copy.deepcopy(COMPILED_DRAFTS.get(url) or self._get_schema(url))

    def save_fetched(self, cache: Path) -> list[str]:
        """Save schemas fetched from the network during validation into ``cache``."""
        saved = []
        for url, schema in self.schema_cache.items():
            parsed = urlparse(url)
            if url in self._preloaded or parsed.scheme not in ("http", "https"):
                continue
            path = cache / parsed.netloc / parsed.path.lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(schema, indent=2), encoding="utf-8")
            saved.append(url)
        self._preloaded.update(saved)
        return saved


ENTRY: Final = "GLOFNET_VALIDATE"
"""The name the kept code gives its validator (fastjsonschema names it after the schema's id)."""
NEVER: Final = sys.maxsize
"""``COMPILE_AFTER`` turning compilation off, kept code included."""


def _entry(module: ModuleType) -> Any:
    """The validator a kept or compiled module defines."""
    entry = getattr(module, ENTRY)
    if not callable(entry):
        raise AttributeError(f"{ENTRY} is not a function")
    return entry


def _load_module(path: Path) -> ModuleType:
    """The module whose bytecode (``marshal``, of this Python version) ``path`` holds, run."""
    module = ModuleType(f"glofnet_compiled_{path.stem[:16]}")
    exec(marshal.loads(path.read_bytes()), module.__dict__)
    return module


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextmanager
def offline_first_validation(explicit_dirs: Sequence[Path] = ()) -> Iterator[OfflineFirstValidator]:
    """Install an :class:`OfflineFirstValidator` as pystac's validator for the block."""
    validator = OfflineFirstValidator(configured_schema_dirs(explicit_dirs))
    previous = RegisteredValidator.get_validator()
    RegisteredValidator.set_validator(validator)
    # pystac logs a traceback before raising; the caller reports the error in one line instead.
    pystac_logger = logging.getLogger("pystac.validation.stac_validator")
    disabled = pystac_logger.disabled
    pystac_logger.disabled = True
    try:
        yield validator
    finally:
        pystac_logger.disabled = disabled
        validator.save_fetched(schema_cache_dir())
        RegisteredValidator.set_validator(previous)
