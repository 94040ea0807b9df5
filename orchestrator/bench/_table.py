"""The two-column summary table every bench command prints."""

from __future__ import annotations

from collections.abc import Mapping

from rich.markup import escape
from rich.table import Table


def measure_table(title: str, rows: Mapping[str, str]) -> Table:
    """A left-titled table of measure -> value; the title is printed as written (no rich markup)."""
    table = Table(title=escape(title), title_justify="left", box=None, padding=(0, 2))
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in rows.items():
        table.add_row(name, value)
    return table
