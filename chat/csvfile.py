"""CSV files the product serves: one writer, with the spreadsheet formula guard in one place."""

from __future__ import annotations

import csv
from collections.abc import Iterable

from django.http import HttpResponse

#: A cell starting with one of these runs as a formula when the file is opened in a spreadsheet
#: (a staff name `=HYPERLINK("http://x","y")` would become a live link).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """`value` safe to put in a cell: a text that a spreadsheet would read as a formula is
    prefixed with an apostrophe (shown as text); None is an empty cell; numbers stay numbers."""
    if value is None:
        return ""
    # A lone "-" (no value) is not a formula and reads better as it is.
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and value != "-":
        return "'" + value
    return value


def csv_response(filename: str, rows: Iterable[Iterable[object]]) -> HttpResponse:
    """An attachment `filename` with `rows`, every cell through `csv_cell`."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerows([csv_cell(value) for value in row] for row in rows)
    return response
