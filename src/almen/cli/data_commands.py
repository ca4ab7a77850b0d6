"""Commands that make and load data: synth, demo, ingest, tables, schema, bench."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from almen.cli import app, guard, settings_of, warehouse_target
from almen.cli.render import (
    FormatOpt,
    OutputOpt,
    console,
    emit,
    render_calibration,
    render_counts,
    render_frame,
    row_progress,
    status,
    step_progress,
)
from almen.errors import NotFoundError, ParameterError
from almen.warehouse import WAREHOUSE_FILE, Warehouse, copy_warehouse

warehouse_app = typer.Typer(help="Copy a warehouse to another backend.", no_args_is_help=True)
app.add_typer(warehouse_app, name="warehouse")

DEMO_SCALE = 0.05


def _synth(ctx: typer.Context, scale: float, seed: int, year: int) -> None:
    from almen.synth import STEPS, SynthParams, write_denmark

    params = SynthParams(scale=scale, seed=seed, year=year)
    settings = settings_of(ctx)
    if settings.warehouse_url:
        # made in a DuckDB file first (atomically, as always), then bulk-loaded
        import tempfile

        with tempfile.TemporaryDirectory(prefix="almen-synth-", dir=settings.data.parent
                                         if settings.data.parent.exists() else None) as tmp:  # fmt: skip
            with step_progress(len(STEPS)) as advance:
                write_denmark(params, Path(tmp), progress=advance)
            with (
                Warehouse.connect(Path(tmp), read_only=True) as src,
                Warehouse.connect(warehouse_target(settings)) as dest,
                row_progress() as copied,
            ):
                counts = copy_warehouse(src, dest, progress=copied)
                cal = dest.read_table("calibration").to_pyarrow()
        render_counts(counts, title=f"Synthetic Denmark in {settings.warehouse_url.split('@')[-1]}")
        render_calibration(pl.from_arrow(cal))  # type: ignore[arg-type]
        return
    data_dir = settings.data
    with step_progress(len(STEPS)) as advance:
        counts = write_denmark(params, data_dir, progress=advance)
    render_counts(counts, title=f"Synthetic Denmark in {data_dir / WAREHOUSE_FILE}")
    with Warehouse.connect(data_dir, read_only=True) as wh:
        render_calibration(pl.from_arrow(wh.read_table("calibration").to_pyarrow()))  # type: ignore[arg-type]


@app.command()
@guard
def synth(
    ctx: typer.Context,
    scale: Annotated[float, typer.Option(help="people and clinics, 1.0 = all of Denmark")] = 1.0,
    seed: Annotated[int, typer.Option(help="random seed: same seed, same data")] = 1,
    year: Annotated[int, typer.Option(help="year of population, claims and fee schedule")] = 2025,
) -> None:
    """Generate a synthetic Denmark into the data directory (replacing what is there)."""
    _synth(ctx, scale, seed, year)


DEMO_YEAR = 2025


@app.command()
@guard
def demo(
    ctx: typer.Context,
    scale: Annotated[
        float, typer.Option(help="scale of the demo data if it is missing")
    ] = DEMO_SCALE,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="start the web app")] = True,
    host: Annotated[str, typer.Option(help="address to serve on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to serve on")] = 8000,
) -> None:
    """Build the demo data if it is missing (synthetic Denmark, the year's settlement,
    demo users), show what is in the warehouse, then serve the web app."""
    from almen import records
    from almen.web.demo import make_demo_users, settle_demo_year

    settings = settings_of(ctx)
    data_dir = settings.data
    if not (data_dir / WAREHOUSE_FILE).exists():
        console.print(
            f"No warehouse in {data_dir}: generating synthetic Denmark at scale {scale:g}."
        )
        _synth(ctx, scale, 1, DEMO_YEAR)
    else:
        with Warehouse.connect(data_dir, read_only=True) as wh:
            render_counts({t: wh.row_count(t) for t in sorted(wh.con.list_tables())},
                          title=f"Warehouse {data_dir / WAREHOUSE_FILE}")  # fmt: skip
            if wh.has_table("calibration"):
                render_calibration(pl.from_arrow(wh.read_table("calibration").to_pyarrow()))  # type: ignore[arg-type]
    with Warehouse.connect(data_dir) as wh:
        if settle_demo_year(wh, DEMO_YEAR):
            console.print(f"settled {DEMO_YEAR} (tables settlement and returned_claim)")
        logins = make_demo_users(wh, records.connect(data_dir, settings.records_url))
    console.print("Demo logins (made now; passwords change each time `almen demo` runs):")
    for user, password, role, scope in logins:
        console.print(f"  {user:<10} {password}   {role}{': ' + scope if scope else ''}")
    if serve:
        _serve(settings, host, port, DEMO_YEAR)


def _serve(settings: object, host: str, port: int, year: int, warm: bool = True) -> None:
    import logging

    import uvicorn

    from almen.web import create_app

    if warm:
        # the warm-up's progress lines (names and timings only) on stderr
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s almen: %(message)s", "%H:%M:%S"))
        web_log = logging.getLogger("almen.web")
        web_log.addHandler(handler)
        web_log.setLevel(logging.INFO)
    console.print(f"almen serves at http://{host}:{port}/  (Ctrl-C stops it)")
    if warm:
        status.print(
            "Computing the shared results in the background (settlement, § 96, case "
            f"finding, need …); http://{host}:{port}/api/health shows how far it has come."
        )
    app_ = create_app(settings, year=year, warm=warm)  # type: ignore[arg-type]
    uvicorn.run(app_, host=host, port=port, log_level="warning", proxy_headers=True,
                forwarded_allow_ips=settings.forwarded_allow_ips)  # type: ignore[attr-defined]  # fmt: skip


@app.command()
@guard
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="address to serve on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to serve on")] = 8000,
    year: Annotated[int, typer.Option(help="the year the pages show")] = DEMO_YEAR,
    warm: Annotated[
        bool, typer.Option(help="compute the shared results in the background at start-up")
    ] = True,
) -> None:
    """Serve the web app (dashboards and the JSON API; /docs has the API)."""
    settings = settings_of(ctx)
    if settings.warehouse_url is None and not (settings.data / WAREHOUSE_FILE).exists():
        raise NotFoundError(f"no warehouse in {settings.data}: run `almen demo` or `almen synth`")
    _serve(settings, host, port, year, warm)


user_app = typer.Typer(help="Users of the web app.", no_args_is_help=True)
app.add_typer(user_app, name="user")


@user_app.command("add")
@guard
def user_add(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="user name")],
    role: Annotated[str, typer.Option(help="national, region, cluster or clinic")],
    scope: Annotated[
        str | None, typer.Option(help="the region, cluster or provider number (not national)")
    ] = None,
    name: Annotated[str, typer.Option(help="the person's name")] = "",
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
    ] = "",
) -> None:
    """Add a user (or replace one); the password is stored as an argon2 hash. The scope
    must be a region, cluster or clinic of the warehouse; the password at least 12
    characters and not a common one."""
    from almen import population, records
    from almen.web.auth import add_user, scopes_of

    settings = settings_of(ctx)
    with Warehouse.connect(warehouse_target(settings), read_only=True) as wh:
        known = scopes_of(population.clinic_areas(wh))
    add_user(records.connect(settings.data, settings.records_url), username, password, role,
             scope, name, known_scopes=known)  # fmt: skip
    console.print(f"user {username} ({role}{': ' + scope if scope else ''}) saved")


def _records(ctx: typer.Context):  # type: ignore[no-untyped-def]
    from almen import records

    settings = settings_of(ctx)
    return records.connect(settings.data, settings.records_url)


UserArg = Annotated[str, typer.Argument(help="user name")]


@user_app.command("list")
@guard
def user_list(ctx: typer.Context, fmt: FormatOpt = "table", output: OutputOpt = None) -> None:
    """Every user: role, scope, name, disabled or not, when the password was set and
    the last login (never a hash)."""
    from almen.web.auth import list_users

    users = pl.DataFrame(list_users(_records(ctx)), schema={
        "username": pl.Utf8, "role": pl.Utf8, "scope": pl.Utf8, "name": pl.Utf8,
        "disabled": pl.Boolean, "password_changed_at": pl.Datetime, "last_login": pl.Datetime,
    })  # fmt: skip
    if not emit(users, fmt, output):
        render_frame(users, title=f"{len(users):,} users")


@user_app.command("disable")
@guard
def user_disable(ctx: typer.Context, username: UserArg) -> None:
    """Stop a user logging in; the user's sessions end."""
    from almen.web.auth import set_disabled

    set_disabled(_records(ctx), username, True)
    console.print(f"user {username} disabled; every session of the user ended")


@user_app.command("enable")
@guard
def user_enable(ctx: typer.Context, username: UserArg) -> None:
    """Let a disabled user log in again."""
    from almen.web.auth import set_disabled

    set_disabled(_records(ctx), username, False)
    console.print(f"user {username} enabled")


@user_app.command("passwd")
@guard
def user_passwd(
    ctx: typer.Context,
    username: UserArg,
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
    ] = "",
) -> None:
    """Set a new password; every session of the user ends."""
    from almen.web.auth import set_password

    set_password(_records(ctx), username, password)
    console.print(f"password of {username} changed; every session of the user ended")


@user_app.command("remove")
@guard
def user_remove(ctx: typer.Context, username: UserArg) -> None:
    """Remove a user (the audit log keeps what the user did)."""
    from almen.web.auth import remove_user

    remove_user(_records(ctx), username)
    console.print(f"user {username} removed")


portal_app = typer.Typer(help="Patient portals that send requests to the inbox.",
                         no_args_is_help=True)  # fmt: skip
app.add_typer(portal_app, name="portal")


@portal_app.command("add")
@guard
def portal_add(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="portal name")]
) -> None:
    """Register a patient portal and print its key once (only its hash is kept). The
    portal calls /api/patient/... with ``Authorization: Bearer <key>``."""
    from almen.web.auth import add_portal

    key = add_portal(_records(ctx), name)
    console.print(f"portal {name} added; its key (shown once, keep it secret):")
    typer.echo(key)


@portal_app.command("list")
@guard
def portal_list(ctx: typer.Context, fmt: FormatOpt = "table", output: OutputOpt = None) -> None:
    """Every patient portal and when its key was made (never the key)."""
    from almen.web.auth import list_portals

    got = pl.DataFrame(list_portals(_records(ctx)),
                       schema={"name": pl.Utf8, "created_at": pl.Datetime})  # fmt: skip
    if not emit(got, fmt, output):
        render_frame(got, title=f"{len(got):,} portals")


@portal_app.command("remove")
@guard
def portal_remove(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="portal name")]
) -> None:
    """Remove a portal: its key stops working (its requests stay in the inboxes)."""
    from almen.web.auth import revoke_portal

    revoke_portal(_records(ctx), name)
    console.print(f"portal {name} removed; its key no longer works")


@app.command()
@guard
def tables(ctx: typer.Context) -> None:
    """List the warehouse tables and their row counts."""
    with Warehouse.connect(warehouse_target(settings_of(ctx)), read_only=True) as wh:
        render_counts({t: wh.row_count(t) for t in sorted(wh.con.list_tables())}, title=wh.location)


@warehouse_app.command("copy")
@guard
def warehouse_copy(
    ctx: typer.Context,
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="backend URL (postgres://…, duckdb:///file) or a data "
            "directory; its tables of the same names are replaced",
        ),
    ],
    table: Annotated[
        list[str] | None, typer.Option("--table", help="only this table (repeatable)")
    ] = None,
) -> None:
    """Copy the warehouse (the data directory's, or ALMEN_WAREHOUSE_URL's) into another
    backend in bulk (COPY on PostgreSQL), checking each table's row count."""
    from almen.schema import TABLES

    settings = settings_of(ctx)
    unknown = [t for t in table or [] if t not in TABLES]
    if unknown:
        raise ParameterError(f"--table: no table {unknown[0]} in the schema (see `almen schema`)")
    source = warehouse_target(settings)
    if str(source.where) == to:
        raise ParameterError("--to is the warehouse itself")
    with (
        Warehouse.connect(source, read_only=True) as src,
        Warehouse.connect(to) as dest,
        row_progress() as copied,
    ):
        missing = [t for t in table or [] if not src.has_table(t)]
        if missing:
            raise NotFoundError(f"table {missing[0]} is not in the warehouse {src.location}")
        counts = copy_warehouse(src, dest, tables=table or None, progress=copied)
    render_counts(counts, title=f"Copied to {to.split('@')[-1]}")


@app.command()
@guard
def schema(
    output: Annotated[
        Path | None, typer.Option(help="write Markdown here instead of printing")
    ] = None,
) -> None:
    """Print the warehouse schema (every table and column) as Markdown."""
    from almen.schema_docs import render_schema_markdown

    text = render_schema_markdown()
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text, encoding="utf-8")


@app.command()
@guard
def bench(
    scale: Annotated[float, typer.Option(help="scale of the synth benchmark")] = 1.0,
    output: Annotated[Path, typer.Option(help="Markdown file for the figures")] = Path(
        "docs/benchmarks.md"
    ),
    settlement: Annotated[
        Path | None,
        typer.Option(
            help="also benchmark settlement + § 96 (against pandas) on this data directory, "
            "made by `almen synth --scale 1.0`"
        ),
    ] = None,
) -> None:
    """Run the benchmarks in benchmarks/ and write their figures to docs/benchmarks.md."""
    script = Path("benchmarks") / "bench_synth.py"
    if not script.exists():
        raise NotFoundError(f"{script} not found: run `almen bench` from the repository root")
    if scale <= 0:
        raise ParameterError(f"--scale must be above 0, got {scale:g}")
    if settlement is not None and not (settlement / WAREHOUSE_FILE).exists():
        raise NotFoundError(f"no warehouse in {settlement}: run `almen synth` there first")
    result = subprocess.run(
        [sys.executable, str(script), "--scale", str(scale), "--output", str(output)], check=False
    )
    if result.returncode == 0 and settlement is not None:
        result = subprocess.run(
            [
                sys.executable,
                str(Path("benchmarks") / "bench_settlement.py"),
                str(settlement),
                "--doc",
                str(output),
            ],
            check=False,
        )
    raise typer.Exit(result.returncode)
