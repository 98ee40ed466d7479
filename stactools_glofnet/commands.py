"""The ``stac glofnet`` command group: parse arguments, call one library function, report."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast, get_args

import click

from stactools_glofnet.core.allocator import arrow_on_the_system_allocator
from stactools_glofnet.core.constants import Modality
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.publish import CATALOG_TYPES, CatalogType, TransferSettings, publish_catalog
from stactools_glofnet.sample.names import DEFAULT_SEED, SIZE_NAMES, SizeName

# The library modules behind the build, sample and validate commands (and the configuration models)
# are imported inside those commands: they pull in scipy, dask and rio-cogeo and build pydantic
# models, which `publish` and `--help` do not need; every `stac` command loads this module.

F = TypeVar("F", bound=Callable[..., Any])

SCHEMA_DIR_OPTION = click.option(
    "--schema-dir",
    "schema_dirs",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory of JSON Schemas laid out by URL, searched before the cache and the network "
    "(also $GLOFNET_SCHEMA_DIR).",
)


class SourceParam(click.ParamType[Path | str, Any]):
    """SOURCE: a local directory (a Path) or ``s3://BUCKET/PREFIX`` (kept as the URL string)."""

    name = "source"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path | str:
        """Keep an ``s3://`` URL as it is; any other value is a path."""
        text = os.fspath(value)
        return text if isinstance(text, str) and text.startswith("s3://") else Path(text)


SOURCE = SourceParam()
ENDPOINT_URL_OPTION = click.option(
    "--endpoint-url",
    metavar="URL",
    help="The S3-compatible endpoint of an s3://BUCKET/PREFIX SOURCE instead of AWS (also "
    "$AWS_ENDPOINT_URL), e.g. http://127.0.0.1:8333.",
)

MAX_WORKERS = max(1, 4 * (os.cpu_count() or 1))

ENGINE_OPTIONS = (
    click.option(
        "--workers",
        type=click.IntRange(min=0, max=MAX_WORKERS),
        default=None,
        envvar="GLOFNET_WORKERS",
        help="Worker processes of the local dask.distributed cluster the build runs on: scenes, "
        "image pairs, days and cube tiles side by side (default: one per core; 0: all in this "
        f"process; at most {MAX_WORKERS}, four per core; also $GLOFNET_WORKERS). The output is "
        "identical whatever the number.",
    ),
    click.option(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="Run on an existing dask.distributed scheduler instead, e.g. tcp://10.0.0.5:8786 (its "
        "workers must see SOURCE and DEST at the same paths).",
    ),
)


BUILD_OPTIONS = (
    *ENGINE_OPTIONS,
    ENDPOINT_URL_OPTION,
    click.option(
        "--overwrite",
        is_flag=True,
        help="Replace DEST even if it is a file or a directory this tool did not write (never SOURCE).",
    ),
    click.option(
        "--strict",
        is_flag=True,
        help="Stop at the first input that cannot be used (unreadable, outside the AOI, a duplicate, "
        "a tile the AOI does not need) instead of skipping it and listing it in glofnet:skipped.",
    ),
    click.option(
        "--from-scratch",
        is_flag=True,
        help="Compute every input again, reusing nothing kept from the last build into DEST "
        "(by default only inputs that changed are computed, and a current DEST is left as it is).",
    ),
    click.option(
        "--normalization-from",
        type=click.Path(exists=True, path_type=Path),
        metavar="CATALOG_OR_COLLECTION",
        help="Take train-split normalization statistics from this published GLOFNet catalog or "
        "collection (for a SOURCE without train-split data).",
    ),
)


def _build_options(function: F) -> F:
    for option in reversed(BUILD_OPTIONS):
        function = option(function)
    return function


def _one_line_errors(function: F) -> F:
    """Report :class:`GlofnetError` (and any OS error) as one line and exit 1, without a traceback."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except GlofnetError as error:
            raise click.ClickException(str(error)) from None
        except OSError as error:
            where = error.filename or "error"
            raise click.ClickException(f"{where}: {error.strerror or error}") from None

    return cast(F, wrapper)


def _check_local_source(source: Path | str | None, options: dict[str, Any]) -> None:
    """A local SOURCE that cannot hold inputs is told before the build's libraries load (seconds).

    With ``--endpoint-url`` the build says first that the option wants an S3 SOURCE.
    """
    if isinstance(source, Path) and not options.get("endpoint_url"):
        from stactools_glofnet.source import check_source_dir

        check_source_dir(source)


def _configure_logging(verbose: bool) -> None:
    logger = logging.getLogger("stactools_glofnet")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)


def _settings(build: Any, schema_dirs: tuple[Path, ...], options: dict[str, Any]) -> Any:
    """The build settings from the shared build options (no ``--workers``: one per core)."""
    from stactools_glofnet.core.engine import default_workers

    if options.get("workers") is None:
        options = {**options, "workers": 0 if options.get("scheduler") else default_workers()}
    return build.BuildSettings(schema_dirs=schema_dirs, **options)


def create_glofnet_command(cli: click.Group) -> click.Command:
    """Add the ``glofnet`` group to the ``stac`` CLI."""

    @cli.group("glofnet", short_help="Build and validate the GLOFNet STAC catalog.")
    @click.option("-v", "--verbose", is_flag=True, help="Log progress and decisions.")
    def glofnet(verbose: bool) -> None:
        """GLOFNet: multimodal GLOF data for Shisper Glacier as a STAC catalog."""
        _configure_logging(verbose)
        arrow_on_the_system_allocator()

    @glofnet.command("create-catalog")
    @click.argument("paths", nargs=-1, type=SOURCE, metavar="[SOURCE] DEST")
    @SCHEMA_DIR_OPTION
    @_build_options
    @_one_line_errors
    def create_catalog_command(
        paths: tuple[Path, ...], schema_dirs: tuple[Path, ...], **options: Any
    ) -> None:
        """Build the whole catalog from SOURCE (default: the bundled sample) into DEST.

        DEST is replaced atomically when the new catalog is complete and valid; it may not be or
        contain SOURCE, and a directory this tool did not write needs --overwrite. SOURCE may be
        s3://BUCKET/PREFIX: it is mirrored into the user cache first (changed objects only).

        Example: stac glofnet create-catalog build/catalog
        """
        if len(paths) not in (1, 2) or not isinstance(paths[-1], Path):
            raise click.UsageError("expected [SOURCE] DEST, DEST a local directory")
        source, dest = (None, paths[0]) if len(paths) == 1 else paths
        _check_local_source(source, options)
        from stactools_glofnet import build

        report = build.create_catalog(dest, source, settings=_settings(build, schema_dirs, options))
        for line in report.summary:
            click.echo(line)
        checked = report.validation
        click.echo(
            f"{dest}: catalog with {', '.join(report.collections)} from {report.source}"
            + (f"; {checked.objects} objects and {checked.assets} assets valid" if checked else "")
        )

    @glofnet.command("create-collection")
    @click.argument("modality", type=click.Choice(sorted(get_args(Modality))))
    @click.argument("source", type=SOURCE)
    @click.argument("dest", type=click.Path(path_type=Path))
    @SCHEMA_DIR_OPTION
    @_build_options
    @_one_line_errors
    def create_collection_command(
        modality: str, source: Path | str, dest: Path, schema_dirs: tuple[Path, ...], **options: Any
    ) -> None:
        """Build one MODALITY's collection from SOURCE (a directory or s3://BUCKET/PREFIX) into DEST.

        Example: stac glofnet create-collection harmonized build/sample build/harmonized --workers 2
        """
        _check_local_source(source, options)
        from stactools_glofnet import build

        report = build.create_collection(
            modality, source, dest, settings=_settings(build, schema_dirs, options)
        )
        for line in report.summary:
            click.echo(line)
        click.echo(f"{dest}: collection {report.collections[0]}")

    @glofnet.command("create-item")
    @click.argument("modality", type=click.Choice(["sentinel2"]))
    @click.argument("source", type=click.Path(path_type=Path))
    @click.argument("dest", type=click.Path(path_type=Path))
    @SCHEMA_DIR_OPTION
    @click.option("--overwrite", is_flag=True, help="Replace DEST even if this tool did not write it.")
    @click.option("--strict", is_flag=True, help="A scene outside the AOI is an error, not a skip.")
    @_one_line_errors
    def create_item_command(
        modality: str, source: Path, dest: Path, schema_dirs: tuple[Path, ...], overwrite: bool, strict: bool
    ) -> None:
        """Build one item from one SOURCE item file into the directory DEST, and validate it.

        Example: stac glofnet create-item sentinel2 S2A_43SDA_20210420_0_L2A.json build/item
        """
        from stactools_glofnet import build

        settings = build.BuildSettings(schema_dirs=schema_dirs, overwrite=overwrite, strict=strict)
        click.echo(build.create_item(modality, source, dest, settings=settings))

    @glofnet.command("sample")
    @click.argument("dest", type=click.Path(path_type=Path))
    @click.option(
        "--size",
        type=click.Choice(sorted(SIZE_NAMES)),
        default="small",
        show_default=True,
        help="small: 2018-10 to 2022-10 around the lake, seconds and a few MB; full: 2000-2024 over "
        "the whole AOI at reduced cadences (Sentinel-2 monthly, an ITS_LIVE pair every 8 days), for "
        "benchmarks; glofnet: the real archive cadences (Sentinel-2 every 5 days, ITS_LIVE v2 pairs, "
        "MODIS daily; tens of GB), cut with --fraction to measure how the build scales.",
    )
    @click.option(
        "--seed",
        type=click.IntRange(min=0),
        default=DEFAULT_SEED,
        show_default=True,
        help="Random seed (an integer >= 0); the same seed writes identical bytes.",
    )
    @click.option(
        "--fraction",
        type=float,
        default=1.0,
        show_default=True,
        help="With --size glofnet only: keep the last F (0 < F <= 1) of the span and of each "
        "modality's inputs, cadences unchanged; e.g. --size glofnet --fraction 0.25 for about a quarter.",
    )
    @click.option("--overwrite", is_flag=True, help="Replace DEST even if it is not an earlier sample.")
    @_one_line_errors
    def sample_command(dest: Path, size: str, seed: int, fraction: float, overwrite: bool) -> None:
        """Write the synthetic Shisper sample, in the source products' formats, to DEST.

        Example: stac glofnet sample build/sample --seed 7
        """
        if not 0 < fraction <= 1:
            raise click.ClickException(
                f"--fraction {fraction:g} is not in (0, 1]; e.g. 0.25 keeps the last quarter"
            )
        if fraction != 1 and size != "glofnet":
            raise click.ClickException(f"--fraction applies to --size glofnet only, not --size {size}")
        from stactools_glofnet.core.config import load_content
        from stactools_glofnet.wings import write_sample

        chosen = cast(SizeName, size)
        manifest = write_sample(
            dest, load_content(), size=chosen, seed=seed, fraction=fraction, overwrite=overwrite
        )
        part = f", fraction {fraction:g}" if size == "glofnet" else ""
        click.echo(f"{dest}: {size} sample{part}, seed {seed}, {len(manifest['files'])} files")

    @glofnet.command("validate")
    @click.argument("catalog", type=click.Path(path_type=Path))
    @SCHEMA_DIR_OPTION
    @click.option(
        "--format",
        "output_format",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="text: a summary table and one line per problem; json: the same for machines.",
    )
    @click.option("--strict", is_flag=True, help="Exit 1 on warnings too, not only on errors.")
    @_one_line_errors
    def validate_command(
        catalog: Path, schema_dirs: tuple[Path, ...], output_format: str, strict: bool
    ) -> None:
        """Check CATALOG: every object against its schemas and STAC best practices, every asset's integrity.

        Exits 1 when there is an error (with --strict, also on warnings).

        Example: stac glofnet validate build/catalog --schema-dir ../shared/stac-schemas
        """
        from stactools_glofnet import validate

        report = validate.check_catalog(catalog, schema_dirs)
        click.echo(validate.as_json(report) if output_format == "json" else validate.as_text(report))
        if report.failed(strict=strict):
            raise click.exceptions.Exit(1)

    @glofnet.command("publish")
    @click.argument("catalog", type=click.Path(path_type=Path))
    @click.argument("target", metavar="s3://BUCKET/PREFIX")
    @click.option("--endpoint-url", help="An S3-compatible endpoint instead of AWS (also $AWS_ENDPOINT_URL).")
    @click.option(
        "--public-url",
        help="The http(s) URL readers reach s3://BUCKET/PREFIX at; the published JSON gets absolute "
        "self links.",
    )
    @click.option(
        "--catalog-type",
        type=click.Choice(CATALOG_TYPES),
        help="With --public-url: relative-published (default; only the root's self link is absolute) "
        "or absolute-published (every link and asset href absolute).",
    )
    @click.option("--dry-run", is_flag=True, help="Print the plan (uploads, skips, deletes); change nothing.")
    @click.option(
        "--delete",
        is_flag=True,
        help="Delete objects under PREFIX the catalog no longer has, after the root.",
    )
    @click.option("--force", is_flag=True, help="Upload every object, changed or not.")
    @click.option(
        "--concurrency", type=click.IntRange(1, 64), default=8, show_default=True, help="Parallel uploads."
    )
    @click.option(
        "--retries",
        type=click.IntRange(1, 20),
        default=5,
        show_default=True,
        help="Attempts per request, with backoff.",
    )
    @_one_line_errors
    def publish_command(
        catalog: Path,
        target: str,
        endpoint_url: str | None,
        public_url: str | None,
        catalog_type: str | None,
        dry_run: bool,
        delete: bool,
        force: bool,
        concurrency: int,
        retries: int,
    ) -> None:
        """Publish the built CATALOG to s3://BUCKET/PREFIX: changed objects only, the root last.

        Credentials and region come from the standard AWS environment and configuration.

        Example: stac glofnet publish build/catalog s3://my-bucket/glofnet --dry-run
        """
        if catalog_type and not public_url:
            raise click.UsageError("--catalog-type needs --public-url")
        report = publish_catalog(
            catalog,
            target,
            endpoint_url=endpoint_url,
            public_url=public_url,
            catalog_type=cast(CatalogType, catalog_type or "relative-published"),
            dry_run=dry_run,
            delete=delete,
            force=force,
            settings=TransferSettings(concurrency=concurrency, max_attempts=retries),
        )
        if dry_run:
            for line in report.plan.lines():
                click.echo(line)
        click.echo(report.summary())

    @glofnet.command("acquire")
    @click.argument("modality", type=click.Choice(["sentinel2", "modis", "itslive", "all"]))
    @click.argument("source", type=SOURCE)
    @ENDPOINT_URL_OPTION
    @click.option(
        "--start", metavar="DATE", help="First day (YYYY-MM-DD or ISO 8601; default: the catalog's first)."
    )
    @click.option("--end", metavar="DATE", help="Last day, inclusive (default: the catalog's last).")
    @click.option(
        "--api",
        metavar="URL",
        help="The STAC API searched (default per modality: sentinel2 Earth Search v1, modis the "
        "Planetary Computer, whose hrefs are signed with the planetary-computer package, itslive "
        "https://stac.itslive.cloud; not with all).",
    )
    @click.option(
        "--collection",
        metavar="ID",
        help="The collection searched (default: sentinel-2-l2a, modis-11A1-061, itslive-granules; "
        "Earth Search also has sentinel-2-c1-l2a; not with all).",
    )
    @click.option(
        "--max-cloud",
        type=click.FloatRange(0, 100),
        metavar="PERCENT",
        help="sentinel2: leave out a scene whose AOI is more than PERCENT cloud by its SCL, before "
        "fetching any band (default: the build's max_aoi_cloud_fraction).",
    )
    @click.option(
        "--min-days",
        type=click.FloatRange(min=0),
        metavar="N",
        help="itslive: the least date separation (days) fetched (default: the build's per sensor).",
    )
    @click.option(
        "--max-days",
        type=click.FloatRange(min=0),
        metavar="N",
        help="itslive: the largest date separation (days) fetched (default: the build's per sensor).",
    )
    @click.option(
        "--min-valid",
        type=click.FloatRange(0, 100),
        metavar="PERCENT",
        help="itslive: the least percent_valid_pixels fetched (default: 1, as P000 holds no velocity).",
    )
    @click.option("--dry-run", is_flag=True, help="List what would be fetched; write nothing.")
    @click.option(
        "--since-last", is_flag=True, help="Search only from the newest item the manifest already holds."
    )
    @click.option(
        "--retries",
        type=click.IntRange(1, 20),
        default=5,
        show_default=True,
        help="Attempts per request, with exponential backoff.",
    )
    @_one_line_errors
    def acquire_command(
        modality: str,
        source: Path | str,
        endpoint_url: str | None,
        start: str | None,
        end: str | None,
        api: str | None,
        collection: str | None,
        max_cloud: float | None,
        min_days: float | None,
        max_days: float | None,
        min_valid: float | None,
        dry_run: bool,
        since_last: bool,
        retries: int,
    ) -> None:
        """Fetch MODALITY's inputs (or all three) for the AOI into SOURCE, in the layout create-catalog reads.

        sentinel2: per scene, the AOI window of SCL (a scene too cloudy over the AOI stops there)
        and of each band COG, with HTTP range requests. modis: the AOI windows of LST and QC of
        each MOD11A1 tile-day (h23v05, h24v05). itslive: whole granules, filtered on date
        separation and valid percentage, resumed after a break. Complete files are skipped on a
        rerun (MODALITY/acquire-manifest.json). SOURCE may be s3://BUCKET/PREFIX: it is mirrored
        locally, and what was fetched is uploaded.

        Example: stac glofnet acquire all build/source --start 2022-05-01 --end 2022-06-30
        """
        from stactools_glofnet.acquire.modalities import AcquireOptions, acquire
        from stactools_glofnet.acquire.report import AcquireReport
        from stactools_glofnet.core.config import load_content
        from stactools_glofnet.mirror import mirrored

        def show(report: AcquireReport) -> None:
            for line in report.planned:
                click.echo(line)
            click.echo(report.summary())

        options = AcquireOptions(
            start=start,
            end=end,
            api=api,
            collection=collection,
            max_cloud_percent=max_cloud,
            min_days=min_days,
            max_days=max_days,
            min_valid_percent=min_valid,
            dry_run=dry_run,
            since_last=since_last,
            attempts=retries,
        )
        with mirrored(source, endpoint_url=endpoint_url, upload=not dry_run) as mirror:
            acquire(modality, mirror.path, load_content(), options, on_report=show)
        for line in mirror.lines:
            click.echo(line)

    @glofnet.command("serve")
    @click.argument("catalog")
    @click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
    @click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port.")
    @_one_line_errors
    def serve_command(catalog: str, host: str, port: int) -> None:
        """Serve CATALOG (a directory, its catalog.json or an http(s) URL) as a STAC API until Ctrl-C.

        pystac-client's search (bbox, datetime, collections, ids, CQL2 filters) and STAC Browser
        work against it; CORS is open to every origin.

        Example: stac glofnet serve build/catalog --port 8000
        """
        from stactools_glofnet.serve import catalog_href, serve

        click.echo(f"serving {catalog_href(catalog)} at http://{host}:{port}/ (Ctrl-C stops)")
        serve(catalog, host=host, port=port)

    return glofnet
