"""The ``almen`` command line: thin commands over the engines.

Every ``UserError`` becomes one red line ``file:line:col: kind: what is wrong`` on stderr
and exit code 2 (``guard``); anything else is a bug and keeps its traceback, without local
variables so no patient values reach a terminal or a log.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from almen.config import Settings, get_settings, warehouse_target
from almen.errors import UserError

__all__ = ["app", "guard", "main", "settings_of", "warehouse_target"]

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="almen",
    help="almen: open software for Danish general practice.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
ingest_app = typer.Typer(help="Read real extracts into the warehouse.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")


def guard(fn: F) -> F:
    """Turn a ``UserError`` into one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            typer.secho(str(exc), fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


@app.callback()
def root(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="data directory (default ./almen-data, or ALMEN_DATA)"),
    ] = None,
) -> None:
    """almen: settlement, population, capacity and access for Danish general practice."""
    # the warehouse, the records store, keys and exports: readable by their owner only
    os.umask(0o077)
    ctx.obj = get_settings(os.environ, data=data)


def settings_of(ctx: typer.Context) -> Settings:
    obj = ctx.find_root().obj
    assert isinstance(obj, Settings)
    return obj


def main() -> None:
    """Console-script entry point."""
    app()


# register the commands (each module adds its own to ``app``)
from almen.cli import access_commands as _access_commands  # noqa: E402,F401
from almen.cli import capacity_commands as _capacity_commands  # noqa: E402,F401
from almen.cli import data_commands as _data_commands  # noqa: E402,F401
from almen.cli import guide_commands as _guide_commands  # noqa: E402,F401
from almen.cli import ingest_commands as _ingest_commands  # noqa: E402,F401
from almen.cli import population_commands as _population_commands  # noqa: E402,F401
from almen.cli import settlement_commands as _settlement_commands  # noqa: E402,F401
