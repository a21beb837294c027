"""A setting of an optimizer or a problem: its default and the values it may take."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Hyper:
    """One hyperparameter: gdbench's default and the values it may take.

    A number must lie in [low, high] (an open end excludes the bound: ``low_open`` /
    ``high_open``); a ``bool`` default makes it a flag (true/false, 1/0, yes/no); a ``str``
    default makes it a word, one of ``choices`` where they are given, else any text that
    ``check`` (a function returning the value or raising ValueError) accepts.
    """

    name: str
    default: float | bool | str
    low: float = 0.0
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    doc: str = ""
    integer: bool = False  # a whole number (hidden units, say)
    choices: tuple[str, ...] = ()  # a word's allowed values
    check: object = None  # a word's validator: text -> text, ValueError when invalid

    @staticmethod
    def show(value: float | bool | str) -> str:
        if isinstance(value, str):
            return value
        return str(value).lower() if isinstance(value, bool) else f"{value:g}"

    def describe_range(self) -> str:
        if isinstance(self.default, bool):
            return "true or false"
        if isinstance(self.default, str):
            return " or ".join(self.choices) if self.choices else "text"
        lo = "(" if self.low_open else "["
        hi = ")" if self.high_open or math.isinf(self.high) else "]"
        return f"{lo}{self.low:g}, {self.high:g}{hi}"

    def parse(self, text: str | float | bool) -> float | bool | str:
        """The value of ``text``; ValueError with a one-line reason when it is not valid."""
        if isinstance(self.default, str):
            word = str(text).strip()
            if self.choices and word not in self.choices:
                raise ValueError(f"{self.name} takes {self.describe_range()}, got {text!r}")
            return self.check(word) if callable(self.check) else word
        if isinstance(self.default, bool):
            if isinstance(text, bool):
                return text
            word = str(text).strip().lower()
            if word in ("true", "1", "yes", "on"):
                return True
            if word in ("false", "0", "no", "off"):
                return False
            raise ValueError(f"{self.name} takes true or false, got {text!r}")
        try:
            value = float(text)
        except (TypeError, ValueError):
            raise ValueError(f"{self.name} must be a number, got {text!r}") from None
        too_low = value <= self.low if self.low_open else value < self.low
        too_high = value >= self.high if self.high_open else value > self.high
        if not math.isfinite(value) or too_low or too_high:
            raise ValueError(f"{self.name} must be in {self.describe_range()}, got {text!r}")
        if self.integer:
            if not value.is_integer():
                raise ValueError(f"{self.name} must be a whole number, got {text!r}")
            return int(value)
        return value
