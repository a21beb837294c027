"""Tables as text, the one renderer for every command: aligned plain text for a terminal,
Markdown (with ``|`` escaped) for report.md and compare.md, HTML for Jupyter."""

from __future__ import annotations


def plain_table(header: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell, a rule of dashes under the header; trailing
    spaces trimmed from the rows."""
    widths = [max([len(h), *(len(r[j]) for r in rows)]) for j, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*r).rstrip() for r in rows]
    return "\n".join(lines)


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A Markdown table; a ``|`` inside a cell is escaped so that it stays in its cell."""

    def esc(value) -> str:
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(x) for x in r) + " |" for r in rows]
    return "\n".join(lines)


def html(header: list[str], rows: list[list[str]], colours: list[str] | None = None) -> str:
    """An HTML table, text escaped; with ``colours``, each row's last cell in its colour."""
    from html import escape

    head = "".join(f"<th style='text-align:left'>{escape(h)}</th>" for h in header)
    body = []
    for i, r in enumerate(rows):
        cells = [f"<td style='text-align:left'>{escape(str(c))}</td>" for c in r]
        if colours and cells:
            last = escape(str(r[-1]))
            cells[-1] = f"<td style='text-align:left;color:{colours[i]}'>{last}</td>"
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
