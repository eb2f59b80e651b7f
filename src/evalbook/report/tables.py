"""HTML tables for the book's pages.

Prompts and predictions are untrusted text: a dump may hold markup, and the site is published
on the web. Every cell goes through :func:`html.escape` here, so no page shows data as markup.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence

import pandas as pd

__all__ = ["format_interval", "format_percent", "html_table"]


def format_percent(value: float, *, digits: int = 1) -> str:
    """Format a percent value with ``digits`` decimals; NaN becomes an en dash.

    Examples
    --------
    >>> format_percent(31.5678)
    '31.6'
    >>> format_percent(-0.001, digits=2)
    '0.00'
    >>> format_percent(float("nan"))
    '–'
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    # Adding 0.0 turns a rounded -0.0 into 0.0, so no "-0.00" appears.
    return f"{round(value, digits) + 0.0:.{digits}f}"


def format_interval(low: float, high: float, *, digits: int = 1) -> str:
    """Format a confidence interval as ``[low, high]``.

    Examples
    --------
    >>> format_interval(28.04, 35.11)
    '[28.0, 35.1]'
    """
    return f"[{format_percent(low, digits=digits)}, {format_percent(high, digits=digits)}]"


def _cell(value: object, formatter: Callable[[object], str] | None) -> str:
    if formatter is not None:
        text = formatter(value)
    elif value is None or (isinstance(value, float) and math.isnan(value)):
        text = ""
    elif isinstance(value, float):
        text = f"{value:.4g}"
    else:
        text = str(value)
    return html.escape(text, quote=True)


def html_table(
    frame: pd.DataFrame,
    *,
    columns: Mapping[str, str] | None = None,
    formats: Mapping[str, Callable[[object], str]] | None = None,
    caption: str = "",
    css_class: str = "evalbook-table",
    highlight: Sequence[bool] | None = None,
    table_id: str = "",
) -> str:
    """Return ``frame`` as an HTML table with every header and cell escaped.

    ``columns`` maps column names to headers (and selects and orders them); ``formats`` maps
    column names to a function that turns a value into text; ``highlight`` marks rows to bold.

    Examples
    --------
    >>> html_table(pd.DataFrame({"prediction": ["<script>x</script>"]}))
    ... # doctest: +ELLIPSIS
    '<table class="evalbook-table">...&lt;script&gt;x&lt;/script&gt;...'
    """
    columns = dict(columns) if columns is not None else {name: name for name in frame.columns}
    formats = formats or {}
    head = "".join(f"<th>{html.escape(label)}</th>" for label in columns.values())
    rows = []
    for position, (_, record) in enumerate(frame.iterrows()):
        cells = "".join(f"<td>{_cell(record[name], formats.get(name))}</td>" for name in columns)
        strong = highlight is not None and bool(highlight[position])
        rows.append(f'<tr class="headline">{cells}</tr>' if strong else f"<tr>{cells}</tr>")
    caption_html = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    id_html = f' id="{html.escape(table_id)}"' if table_id else ""
    return (
        f'<table class="{html.escape(css_class)}"{id_html}>{caption_html}'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
