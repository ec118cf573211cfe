"""Every CSV the trust writes goes through here, so no cell can run as a spreadsheet formula."""

import csv
import re
from collections.abc import Iterable, Sequence

from django.http import StreamingHttpResponse

# A spreadsheet runs a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


def safe_cell(value) -> str:
    """A cell a spreadsheet shows as text: a formula-looking value gets a leading quote. Plain
    numbers, negative amounts included, stay numbers."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.match(text):
        return "'" + text
    return text


class _Echo:
    """A file-like object whose write returns the line, so csv.writer output can be streamed."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: Sequence, rows: Iterable[Sequence]) -> Iterable[str]:
    """The CSV text line by line (CRLF, as RFC 4180 says), every cell through `safe_cell`."""
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    if header:
        yield writer.writerow([safe_cell(cell) for cell in header])
    for row in rows:
        yield writer.writerow([safe_cell(cell) for cell in row])


def csv_text(header: Sequence, rows: Iterable[Sequence]) -> str:
    return "".join(csv_lines(header, rows))


def csv_response(filename: str, header: Sequence, rows: Iterable[Sequence]) -> StreamingHttpResponse:
    """A streamed CSV download: rows are written as they are read, never held in memory whole."""
    response = StreamingHttpResponse(csv_lines(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
