"""Rich rendering for the CLI: tables, progress bars, reconciliations."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from almen.export import Result, as_result, to_csv, to_json, write_result
from almen.ingest.validated import Validated


class WholeConsole(Console):
    """A console that never cuts a number in a table.

    Every table column folds onto a new line instead of ending in "…", and off a
    terminal (a pipe, a file) a table is laid out at its natural width, however narrow
    ``COLUMNS`` says the screen is.
    """

    def print(self, *objects: object, **kwargs: object) -> None:
        need = 0
        for obj in objects:
            if isinstance(obj, Table):
                for col in obj.columns:
                    col.overflow = "fold"
                if not self.is_terminal:
                    wide = self.options.update(width=100_000)
                    need = max(need, self.measure(obj, options=wide).maximum)
        if need <= self.width:
            super().print(*objects, **kwargs)  # type: ignore[arg-type]
            return
        # Rich caps a print's width at the console's: widen the console for this print
        saved = self._width
        self.width = need
        try:
            super().print(*objects, **kwargs)  # type: ignore[arg-type]
        finally:
            self._width = saved


# soft_wrap: a message is one line however long its path, so it can be grepped and
# piped; tables are laid out to the terminal's width and never cut (WholeConsole).
console = WholeConsole(soft_wrap=True)
status = WholeConsole(stderr=True, soft_wrap=True)  # progress and notes: stdout stays clean


@contextmanager
def step_progress(
    total: int, title: str = "synthetic Denmark", out: Console = console
) -> Iterator[Callable[[str], None]]:
    """A progress bar over ``total`` named steps; yields the callback the engine calls."""
    with Progress(
        TextColumn("[bold]{task.description:<28}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=out,
        transient=False,
    ) as progress:
        task = progress.add_task(title, total=total)
        started = [False]

        def advance(step: str) -> None:
            if started[0]:
                progress.advance(task)
            started[0] = True
            progress.update(task, description=step)

        yield advance
        progress.update(task, completed=total, description="done")


@contextmanager
def row_progress(out: Console = status) -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar per table (rows done of rows in it); yields the callback that
    ``warehouse.copy_warehouse`` calls after each batch."""
    with Progress(
        TextColumn("[bold]{task.description:<28}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} rows"),
        TimeElapsedColumn(),
        console=out,
        transient=False,
    ) as progress:
        tasks: dict[str, TaskID] = {}

        def advance(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = progress.add_task(table, total=total)
            progress.update(tasks[table], completed=done)

        yield advance


def render_counts(counts: dict[str, int], *, title: str) -> None:
    table = Table(title=title)
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    console.print(table)


def _fmt(value: float | None, unit: str) -> str:
    if value is None or value != value:  # none, or NaN
        return "—"
    if unit.startswith("share"):
        return f"{value:.1%}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def render_calibration(cal: pl.DataFrame) -> None:
    """The two parts of the calibration table, apart: the targets the generator was tuned
    to, and the held-out public figures it was never tuned to, each with its band and
    whether the generated value falls inside."""
    kind = cal["kind"] if "kind" in cal.columns else pl.Series(["target"] * len(cal))
    targets, held = cal.filter(kind != "held_out"), cal.filter(kind == "held_out")
    table = Table(
        title="Targets (tuned to): generated beside the public figure (scaled to the run)"
    )
    for col, justify in (("measure", "left"), ("generated", "right"), ("target", "right"),
                         ("ratio", "right"), ("source", "left")):  # fmt: skip
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in targets.iter_rows(named=True):
        ratio = "" if not r["target"] else f"{r['generated'] / r['target']:.2f}"
        table.add_row(r["measure"], _fmt(r["generated"], r["unit"]), _fmt(r["target"], r["unit"]),
                      ratio, r["source"])  # fmt: skip
    console.print(table)
    if held.is_empty():
        return
    inside = int(held["inside"].sum())
    table = Table(title=f"Held out (never tuned to): {inside} of {len(held)} inside their band")
    for col, justify in (("measure", "left"), ("generated", "right"), ("public", "right"),
                         ("band", "right"), ("inside", "center"), ("year", "right"),
                         ("source", "left")):  # fmt: skip
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in held.iter_rows(named=True):
        band = f"{_fmt(r['low'], r['unit'])}-{_fmt(r['high'], r['unit'])}"
        table.add_row(r["measure"], _fmt(r["generated"], r["unit"]), _fmt(r["target"], r["unit"]),
                      band, "yes" if r["inside"] else "NO", str(r["year"]), r["source"])  # fmt: skip
    console.print(table)


def render_reconciliation(v: Validated, ingest_id: str) -> None:
    console.print(
        f"[bold]{v.source}[/] → {v.target_table} (ingest {ingest_id}): "
        f"read {v.rows_read:,} = accepted {v.rows_accepted:,} + rejected {len(v.rejects):,}"
    )
    for note in v.notes:
        console.print(f"[yellow]note:[/] {note}")
    if v.rejects:
        shown = v.rejects[:10]
        table = Table(
            title=f"Rejected rows (first {len(shown)} of {len(v.rejects)}; all in table reject)"
        )
        for col in ("line", "column", "reason"):
            table.add_column(col)
        for r in shown:
            table.add_row(str(r.line), r.column or "", r.reason)
        console.print(table)


FORMATS = ("table", "csv", "json", "parquet")
FormatOpt = Annotated[str, typer.Option("--format", help="table, csv, json or parquet")]
OutputOpt = Annotated[Path | None, typer.Option("--output", help="write the result to a file")]


def render_frame(df: pl.DataFrame, *, title: str) -> None:
    """A frame as a Rich table, every row and column (empty cells for nulls)."""
    t = Table(title=title)
    for col in df.columns:
        t.add_column(col)
    for r in df.iter_rows():
        t.add_row(*("" if v is None else str(v) for v in r))
    console.print(t)


def emit(data: Result | pl.DataFrame, fmt: str, output: Path | None) -> bool:
    """Write ``data`` as csv/json/parquet (to ``output`` or stdout); False for a table.

    ``--format table --output FILE`` writes CSV. Every part of a ``Result`` goes out
    (``almen.export``); nothing is cut.
    """
    from almen.errors import ParameterError

    if fmt not in FORMATS:
        raise ParameterError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt == "table" and output is None:
        return False
    result = as_result(data)
    fmt = "csv" if fmt == "table" else fmt
    if output is None:
        if fmt == "parquet":
            raise ParameterError("--format parquet needs --output FILE")
        typer.echo((to_csv(result) if fmt == "csv" else to_json(result)).rstrip("\n"))
        return True
    paths = write_result(result, fmt, output)
    if fmt == "json":
        status.print(f"wrote {output} ({', '.join(result.parts)})")
    else:
        for path, df in zip(paths, result.parts.values(), strict=True):
            status.print(f"wrote {len(df):,} rows to {path}")
    return True
