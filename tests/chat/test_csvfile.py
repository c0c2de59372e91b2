"""Every CSV the product serves goes through one writer that keeps formulas out of cells."""

from __future__ import annotations

import csv
import io

import pytest

from chat.csvfile import FORMULA_STARTS, csv_cell


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_it_neutralises_every_text_a_spreadsheet_would_run(start):
    assert csv_cell(f"{start}SUM(A1:A9)") == f"'{start}SUM(A1:A9)"


@pytest.mark.parametrize("value", ["Aino Asiakaspalvelija", "a=b", "", "-", 42, -3, 1.5])
def test_it_leaves_ordinary_cells_alone(value):
    assert csv_cell(value) == value


def test_none_is_an_empty_cell():
    assert csv_cell(None) == ""


@pytest.mark.django_db
def test_the_access_review_writes_a_formula_in_a_staff_name_as_text(client, dana, alice):
    alice.first_name = '=HYPERLINK("http://x","y")'
    alice.save(update_fields=["first_name"])
    client.force_login(dana)
    body = client.get("/console/access/access-review.csv").content.decode()
    rows = {row["username"]: row for row in csv.DictReader(io.StringIO(body))}
    assert rows["alice"]["name"].startswith("'=HYPERLINK(")
