"""``create-catalog``, ``create-collection`` and ``create-item``: built in staging, validated, swapped in.

The wings come from :data:`~stactools_glofnet.wings.WINGS`. Every output is written to a staging
directory beside DEST with relative hrefs, validated there (what is validated is exactly what
will be at DEST), and swapped into DEST atomically (:func:`~stactools_glofnet.core.output.replacing`),
so a failed build never leaves a half-written output and never touches what is not its own.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import pystac

from stactools_glofnet.core.allocator import give_back_freed_memory, map_large_blocks
from stactools_glofnet.core.assets import relocate_assets
from stactools_glofnet.core.cache import entry_held, user_cache_dir
from stactools_glofnet.core.config import CatalogContent, Modality, load_content
from stactools_glofnet.core.digests import InputDigests
from stactools_glofnet.core.engine import Engine, open_engine
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.extension import GlofnetExtension, publish_schema
from stactools_glofnet.core.index import write_item_indexes
from stactools_glofnet.core.linked import catalogs, count_items, each_item, held_items
from stactools_glofnet.core.memo import JobMemo
from stactools_glofnet.core.normalization import Reference
from stactools_glofnet.core.output import memo_store, replacing
from stactools_glofnet.core.rebuild import build_key, forget, is_current, source_files, write_record
from stactools_glofnet.core.software import code_digest, software_digest
from stactools_glofnet.core.stac import (
    DeterministicStacIO,
    build_datetime,
    layout,
    link_sources,
    root_catalog,
    save,
)
from stactools_glofnet.core.wing import BuildOptions, Skips, WingInputs
from stactools_glofnet.mirror import Mirrored, SourceSpec, mirrored
from stactools_glofnet.sample.names import DEFAULT_SEED, MANIFEST_NAME, SizeName
from stactools_glofnet.sentinel2 import create_item as sentinel2_item
from stactools_glofnet.sentinel2.process import Skipped
from stactools_glofnet.source import SourceInputs, open_source
from stactools_glofnet.validate import ValidationReport, validate_catalog
from stactools_glofnet.validation.cache import ValidationCache
from stactools_glofnet.wings import WING_BY_MODALITY, WINGS, Wing, write_sample

logger = logging.getLogger(__name__)

WORKDIR = "_work"
VALIDATION_CACHE = "validation.sqlite"
"""The validation results of the last build, in DEST's memo store."""
MODALITIES: list[Modality] = [wing.modality for wing in WINGS]
"""What ``create-collection`` accepts, in catalog order."""


@dataclass(frozen=True)
class BuildReport:
    """What a build produced, and one line per source wing on what it kept and skipped."""

    dest: Path
    source: Path | str
    """SOURCE as given (an ``s3://`` URL stays a URL)."""
    collections: list[str]
    validation: ValidationReport | None
    summary: list[str] = field(default_factory=list)
    unchanged: bool = False
    """DEST was already current and was left as it was."""


@dataclass(frozen=True)
class BuildSettings:
    """How to build: validation schemas, parallelism, strictness, normalization reference."""

    schema_dirs: Sequence[Path] = ()
    validate: bool = True
    workers: int = 0
    scheduler: str | None = None
    strict: bool = False
    normalization_from: Path | None = None
    overwrite: bool = False
    from_scratch: bool = False
    """Compute every job, reusing nothing kept from the last build into DEST."""
    endpoint_url: str | None = None
    """The S3-compatible endpoint of an ``s3://`` SOURCE (default: AWS, or ``$AWS_ENDPOINT_URL``)."""


def cached_sample(content: CatalogContent, size: SizeName = "small", seed: int = DEFAULT_SEED) -> Path:
    """The bundled sample, generated once into the user cache and reused while it is current.

    Builds started together wait for the one generating it (e.g. two ``scripts/catalog`` on a
    fresh machine), then use that sample."""
    key = f"sample-{size}-seed{seed}-{code_digest()[:12]}-{content.digest[:12]}"
    path = user_cache_dir() / key
    with entry_held(path):
        if (path / MANIFEST_NAME).is_file():
            try:
                open_source(path)
                return path
            except GlofnetError as error:
                logger.warning("regenerating the cached sample: %s", error)
        logger.info("generating the %s sample (seed %d) into %s", size, seed, path)
        write_sample(path, content, size=size, seed=seed, overwrite=True)
    return path


def _needed(modality: Modality) -> list[Wing]:
    """The wing of ``modality`` after every wing it is made from, in table order."""
    wanted = {modality}
    for wing in reversed(WINGS):
        if wing.modality in wanted:
            wanted.update(wing.needs)
    return [wing for wing in WINGS if wing.modality in wanted]


def _summary(wing: Wing, collection: pystac.Collection) -> str:
    """One line: the wing's kept inputs and its skips by reason."""
    if wing.modality == "modis":
        kept = sum(GlofnetExtension.ext(i).days or 0 for i in each_item(collection))
    else:
        kept = count_items(collection)
    skipped = GlofnetExtension.ext(collection).skipped or []
    return Skips(wing.modality, entries=list(skipped)).summary(kept, wing.unit)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Log how long one stage of a build took (``-v``; ``scripts/bench`` reads these lines), and
    give back to the system what the stage freed (after Sentinel-2 at fraction 0.25 of the
    GLOFNet-size sample, 26 MiB of the process's 250 went back that way)."""
    start = time.perf_counter()
    yield
    give_back_freed_memory()
    logger.info("stage %s: %.1f s", name, time.perf_counter() - start)


def _build_wings(
    directory: Path, inputs: SourceInputs, options: BuildOptions, wings: Sequence[Wing], *, published: bool
) -> dict[Modality, pystac.Collection]:
    """Run ``wings`` in order; a wing whose inputs SOURCE lacks is left out (logged). The engine
    is released after the last: the layout and validation need no workers."""
    built: dict[Modality, pystac.Collection] = {}
    for wing in wings:
        if wing.source_dir is not None:
            source_dir = inputs.modality_dir(wing.source_dir)
            if source_dir is None:
                logger.info("SOURCE has no %s/ inputs; %s is left out", wing.source_dir, wing.modality)
                continue
            wing_inputs = WingInputs(source_dir=source_dir)
        else:
            missing = [m for m in wing.needs if m not in built]
            if missing:
                logger.info(
                    "%s needs %s, which SOURCE lacks; it is left out", wing.modality, ", ".join(missing)
                )
                continue
            wing_inputs = WingInputs(
                collections={m: built[m] for m in wing.needs}, collections_published=published
            )
        with stage(wing.modality):
            built[wing.modality] = _create_wing(
                wing, wing_inputs, directory / WORKDIR / wing.modality, options
            )
    options.engine.release()
    return built


def _create_wing(wing: Wing, inputs: WingInputs, workdir: Path, options: BuildOptions) -> pystac.Collection:
    """The wing's collection, taken whole from the last build when what it is made from is unchanged.

    A wing reading SOURCE is keyed by its SOURCE files; a wing made from other collections by
    their keys (their inputs, completely); a wing reading neither by the content alone. Links to
    the collections it was made from are added after, so a kept result holds only its own.
    """
    memo = options.memo
    key = _wing_key(wing, inputs, options)
    if memo is None or key is None:
        return wing.create_collection(inputs, workdir, options)
    unlinked = replace(inputs, collections_published=False)
    collection = memo.call(
        wing.modality, key, lambda: wing.create_collection(unlinked, workdir, options), workdir
    )
    if inputs.collections and inputs.collections_published:
        link_sources(collection, inputs.collections.values())
    return collection


def _wing_key(wing: Wing, inputs: WingInputs, options: BuildOptions) -> str | None:
    """The key of what a wing's whole collection depends on; None when it cannot be kept.

    A wing reading SOURCE is keyed by its files, streamed (:meth:`JobMemo.whole_key`): at the
    whole archive they are tens of thousands, and no list of them is held while the wing builds.
    """
    memo = options.memo
    if memo is None or (wing.reads_reference and options.normalization is not None):
        return None
    values = (wing.modality, f"strict={options.strict}")
    if inputs.source_dir is not None:
        files = (os.path.abspath(path) for path in source_files(inputs.source_dir))
        return memo.whole_key(wing.modality, files, values)
    made_from = [memo.keys.get(modality) for modality in wing.needs]
    if not all(made_from):
        return None
    needs = tuple(f"{m}={k}" for m, k in zip(wing.needs, made_from, strict=True))
    return memo.whole_key(wing.modality, (), (*values, *needs))


def _check_contained(root: pystac.Catalog, directory: Path) -> None:
    """Refuse to save anything whose file would land outside ``directory`` (defence in depth;
    linked items are checked where they are placed)."""
    base = Path(os.path.abspath(directory))
    for catalog in catalogs(root):
        for obj in [catalog, *held_items(catalog, recursive=False)]:
            target = Path(os.path.abspath(obj.get_self_href() or ""))
            if base not in target.parents:
                raise GlofnetError(target, f"{obj.id}: would be written outside the output directory")


def _finish(root: pystac.Catalog, directory: Path) -> None:
    """Lay out, move asset files beside their owners, index each collection's items, and save."""
    layout(root, directory)
    _check_contained(root, directory)
    publish_schema(root, directory)
    relocate_assets(root, directory, directory / WORKDIR)
    shutil.rmtree(directory / WORKDIR, ignore_errors=True)
    write_item_indexes(root)
    save(root)


def _options(settings: BuildSettings, content: CatalogContent, engine: Engine, memo: JobMemo) -> BuildOptions:
    reference = Reference.load(settings.normalization_from) if settings.normalization_from else None
    return BuildOptions(
        content=content, engine=engine, strict=settings.strict, normalization=reference, memo=memo
    )


def _key_values(settings: BuildSettings, content: CatalogContent, kind: str) -> list[str]:
    """What besides SOURCE and the software shapes the output (workers and scheduler do not)."""
    return [kind, content.digest, f"strict={settings.strict}", f"validate={settings.validate}"]


Body = Callable[[Path, BuildOptions], tuple[list[str], ValidationReport | None, list[str]]]
"""Builds into the staging directory; returns collection ids, validation and summary lines."""


def _rebuild(
    dest: Path, source: Path, kind: str, content: CatalogContent, settings: BuildSettings, body: Body
) -> BuildReport:
    """Build into ``dest`` through staging, reusing what the last build into ``dest`` computed.

    DEST already current (same inputs, content, settings and software; its files untouched since)
    is left as it is. Otherwise jobs whose inputs did not change take their kept results
    (:mod:`~stactools_glofnet.core.memo`), unless ``settings.from_scratch``. From here on this
    process maps its large blocks (:func:`~stactools_glofnet.core.allocator.map_large_blocks`).
    """
    map_large_blocks()
    store = memo_store(dest)
    key = None if settings.normalization_from else build_key([source], _key_values(settings, content, kind))
    # the salt is what shapes every job's output besides its inputs: the software, the content
    # and the processing time written into the metadata (SOURCE_DATE_EPOCH)
    salt = f"{software_digest()} {content.digest} {build_datetime(content).isoformat()}"
    with closing(InputDigests.load(source)) as digests:
        memo = JobMemo(store, salt=salt, digests=digests)
        built: list[str] = []

        def record(final: Path) -> None:
            # the kept results this build did not use go first: removing the output DEST replaced
            # and those entries unlinks files DEST shares, which changes their ctime
            memo.finish()
            if key is not None:
                write_record(store, final, key, built)

        with replacing(
            dest, kind=kind, inputs=[source], overwrite=settings.overwrite, installed=record
        ) as staging:
            current = None if key is None or settings.from_scratch else is_current(store, dest, key)
            if current is not None:
                raise _Current(current)
            if settings.from_scratch:
                shutil.rmtree(store, ignore_errors=True)
            forget(store)
            with open_engine(settings.workers, settings.scheduler) as engine:
                collections, report, summary = body(staging, _options(settings, content, engine, memo))
            built.extend(collections)
        reused = memo.summary()
        if reused:
            summary.append(reused)
        return BuildReport(dest, source, collections, report, summary)


class _Current(Exception):
    """Leaves the staging block: DEST is already what this build would make."""

    def __init__(self, collections: list[str]) -> None:
        super().__init__("current")
        self.collections = collections


def _unchanged(dest: Path, source: Path, current: _Current) -> BuildReport:
    line = f"{dest}: already current (same inputs, content, settings and software); nothing rebuilt"
    return BuildReport(dest, source, current.collections, None, [line], unchanged=True)


def create_catalog(
    dest: Path,
    source: SourceSpec | None = None,
    *,
    content: CatalogContent | None = None,
    settings: BuildSettings | None = None,
) -> BuildReport:
    """Build the GLOFNet catalog from ``source`` (default: the bundled sample) into ``dest``.

    ``source`` may be ``s3://BUCKET/PREFIX`` (with ``settings.endpoint_url`` for an S3-compatible
    store): it is then synchronized into its local mirror first (:mod:`stactools_glofnet.mirror`).
    """
    settings = settings or BuildSettings()
    content = content or load_content()
    given = source if source is not None else cached_sample(content)
    with mirrored(given, endpoint_url=settings.endpoint_url) as mirror:
        return _from_mirror(mirror, _create_catalog(dest, mirror.path, content, settings))


def _from_mirror(mirror: Mirrored, report: BuildReport) -> BuildReport:
    """``report`` naming SOURCE as given, after the lines of its synchronization."""
    return replace(report, source=mirror.source, summary=[*mirror.lines, *report.summary])


def _create_catalog(
    dest: Path, source: Path, content: CatalogContent, settings: BuildSettings
) -> BuildReport:
    inputs = open_source(source)

    def body(staging: Path, options: BuildOptions) -> tuple[list[str], ValidationReport | None, list[str]]:
        built = _build_wings(staging, inputs, options, WINGS, published=True)
        if not built:
            raise GlofnetError(source, "SOURCE holds inputs for no modality")
        root = root_catalog(options.content)
        for collection in built.values():
            root.add_child(collection, title=collection.title)
        with stage("layout"):
            _finish(root, staging)
        with stage("validation"):
            report = _validate(staging, settings, options)
        return [c.id for c in built.values()], report, _summaries(built)

    try:
        return _rebuild(dest, source, "catalog", content, settings, body)
    except _Current as current:
        return _unchanged(dest, source, current)


def _validate(path: Path, settings: BuildSettings, options: BuildOptions) -> ValidationReport | None:
    """Validate the staged output, skipping checks the last build into DEST did on the same bytes."""
    if not settings.validate:
        return None
    if options.memo is None:
        return validate_catalog(path, settings.schema_dirs)
    with closing(ValidationCache.load(options.memo.store / VALIDATION_CACHE)) as cache:
        report = validate_catalog(path, settings.schema_dirs, cache=cache)
        cache.save()
    return report


def _summaries(built: dict[Modality, pystac.Collection]) -> list[str]:
    return [_summary(WING_BY_MODALITY[m], c) for m, c in built.items() if WING_BY_MODALITY[m].source_dir]


def create_collection(
    modality: str,
    source: SourceSpec,
    dest: Path,
    *,
    content: CatalogContent | None = None,
    settings: BuildSettings | None = None,
) -> BuildReport:
    """Build one modality's collection alone into ``dest`` as a self-contained collection.

    A collection made from others (harmonized) builds those on the way and leaves them out.
    ``source`` may be ``s3://BUCKET/PREFIX``, as for :func:`create_catalog`.
    """
    settings = settings or BuildSettings()
    content = content or load_content()
    if modality not in WING_BY_MODALITY:
        raise GlofnetError(str(source), f"unknown modality {modality!r}; choose from {', '.join(MODALITIES)}")
    with mirrored(source, endpoint_url=settings.endpoint_url) as mirror:
        return _from_mirror(mirror, _create_collection(modality, mirror.path, dest, content, settings))


def _create_collection(
    modality: str, source: Path, dest: Path, content: CatalogContent, settings: BuildSettings
) -> BuildReport:
    wing = WING_BY_MODALITY[modality]  # type: ignore[index]
    inputs = open_source(source)

    def body(staging: Path, options: BuildOptions) -> tuple[list[str], ValidationReport | None, list[str]]:
        built = _build_wings(staging, inputs, options, _needed(wing.modality), published=False)
        collection = built.get(wing.modality)
        if collection is None:
            raise GlofnetError(source, f"SOURCE holds no {modality} inputs")
        _finish(collection, staging)
        report = _validate(staging / "collection.json", settings, options)
        return [collection.id], report, _summaries(built)

    try:
        return _rebuild(dest, source, f"collection {modality}", content, settings, body)
    except _Current as current:
        return _unchanged(dest, source, current)


class _SceneSkipped(Exception):
    """Leaves a staging block (so DEST stays as it was) when the scene is not made into an item."""

    def __init__(self, skipped: Skipped) -> None:
        super().__init__(skipped.reason)
        self.skipped = skipped


def create_item(
    modality: str,
    source: Path,
    dest: Path,
    *,
    content: CatalogContent | None = None,
    settings: BuildSettings | None = None,
) -> str:
    """Build one item from one source item file into the directory ``dest``; returns one line.

    Only ``sentinel2`` items are built from single source files. A scene the QC rules or the
    AOI leave out is reported (nothing is written), not an error; with ``strict``, a scene
    outside the AOI is an error.
    """
    settings = settings or BuildSettings()
    content = content or load_content()
    if modality != "sentinel2":
        raise GlofnetError(source, f"create-item builds sentinel2 items; {modality!r} has no per-file items")
    options = BuildOptions(content=content, strict=settings.strict)
    try:
        with replacing(dest, kind="item", inputs=[source], overwrite=settings.overwrite) as staging:
            result = sentinel2_item(source, staging, options)
            if isinstance(result, Skipped):
                raise _SceneSkipped(result)
            path = staging / f"{result.id}.json"
            result.set_self_href(str(path))
            result.make_asset_hrefs_relative()
            result.save_object(include_self_link=False, stac_io=DeterministicStacIO())
            if settings.validate:
                validate_catalog(path, settings.schema_dirs)
    except _SceneSkipped as skipped:
        if settings.strict and skipped.skipped.kind == "input":
            raise GlofnetError(source, f"{skipped.skipped.reason} (--strict)") from None
        return f"{source}: skipped: {skipped.skipped.reason}"
    return f"{dest / (result.id + '.json')}: item with {len(result.assets)} assets"
