"""The UsageError contract: bad input, said in one line.

Every layer raises ``UsageError`` for input it cannot use (an option, a file, a value);
the command line prints its message and exits with status 2, the Python API lets it
propagate. ``one_line`` keeps any text a message echoes on one line.
"""

from __future__ import annotations

import unicodedata


class UsageError(Exception):
    """Bad input: reported as one line, exit status 2, before any work is done."""


MAX_MESSAGE = 1000  # characters: an echoed 5000-character value does not fill the screen


def one_line(value: str, limit: int | None = None) -> str:
    """One line of text: control characters (newlines, CR, NUL …) become spaces, so that
    a message can never break a CSV row or an error line, whatever it echoes."""
    text = "".join(" " if unicodedata.category(c) == "Cc" else c for c in value).strip()
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"
