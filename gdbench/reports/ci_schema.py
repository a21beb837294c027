"""The JSON Schemas (draft 2020-12) of ``compare --json`` and ``history --json``, version
``ci_json.VERSION``. docs/schemas/ holds the same, as files (a test keeps them equal)."""

from __future__ import annotations

_NUMBER = {"type": ["number", "null"]}
_TEXT = {"type": ["string", "null"]}
_INT = {"type": ["integer", "null"]}

_FAILURE = {
    "type": "object",
    "required": ["cell", "kind", "line"],
    "properties": {
        "cell": {"type": "string"},
        "kind": {"enum": ["slower", "numerics", "regression", "not testable"]},
        "line": {"type": "string", "description": "the FAIL line the command prints"},
        "ratio": _NUMBER,
        "low": _NUMBER,
        "high": _NUMBER,
        "since_run": _INT,
    },
}


def failure(cell: str, kind: str, line: str, ratio=None, low=None, high=None, **more) -> dict:
    """One item of a document's ``fails`` (``_FAILURE``): the cell, what failed,
    the ratio and its interval where timing failed, the FAIL line; ``more``: since_run."""
    return {
        "cell": cell,
        "kind": kind,
        "ratio": ratio,
        "low": low,
        "high": high,
        **more,
        "line": line,
    }


def _head(name: str, title: str) -> dict:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://gdbench.invalid/schemas/{name}.v1.json",
        "title": title,
        "type": "object",
    }


COMPARE = {
    **_head("compare", "gdbench compare --json"),
    "required": [
        "schema",
        "version",
        "old",
        "new",
        "threshold",
        "fail_above",
        "require_testable",
        "ignore",
        "environment",
        "cells",
        "not_compared",
        "fails",
        "exit_status",
    ],
    "properties": {
        "schema": {"const": "gdbench-compare"},
        "version": {"const": 1},
        "old": {"type": "string"},
        "new": {"type": "string"},
        "threshold": {"type": "number", "description": "a change must exceed it (0.05: 5%)"},
        "fail_above": _NUMBER,
        "require_testable": {"type": "boolean"},
        "ignore": {"type": "array", "items": {"type": "string"}},
        "environment": {
            "type": "object",
            "required": ["differs", "same"],
            "properties": {
                "differs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["what", "old", "new"],
                        "properties": {
                            "what": {"type": "string"},
                            "old": {"type": "string"},
                            "new": {"type": "string"},
                        },
                    },
                },
                "same": {"type": "array", "items": {"type": "string"}},
            },
        },
        "cells": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "cell",
                    "decision",
                    "evidence",
                    "ratio",
                    "low",
                    "high",
                    "p",
                    "p_adjusted",
                    "numerics_broke",
                ],
                "properties": {
                    "cell": {"type": "string"},
                    "decision": {
                        "enum": [
                            "slower",
                            "faster",
                            "no significant change",
                            "not testable",
                            "not comparable",
                            "not timed",
                        ]
                    },
                    "evidence": {"enum": ["rank test", "separation", None]},
                    "note": _TEXT,
                    "ratio": _NUMBER,
                    "low": _NUMBER,
                    "high": _NUMBER,
                    "p": _NUMBER,
                    "p_adjusted": _NUMBER,
                    "unit": {"enum": ["rounds", "blocks", None]},
                    "n_old": _INT,
                    "n_new": _INT,
                    "rounds_old": _INT,
                    "rounds_new": _INT,
                    "old_time_per_step_s": _NUMBER,
                    "new_time_per_step_s": _NUMBER,
                    "old_numerics": {"type": "string"},
                    "new_numerics": {"type": "string"},
                    "numerics_broke": {"type": "boolean"},
                },
            },
        },
        "not_compared": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["cell", "side", "reason"],
                "properties": {
                    "cell": {"type": "string"},
                    "side": {"enum": ["old", "new", "both"]},
                    "reason": {"type": "string"},
                },
            },
        },
        "fails": {"type": "array", "items": _FAILURE},
        "exit_status": {"enum": [0, 1]},
    },
}

HISTORY = {
    **_head("history", "gdbench history --json"),
    "required": [
        "schema",
        "version",
        "threshold",
        "fail_on_regression",
        "require_testable",
        "runs",
        "cells",
        "events",
        "fails",
        "exit_status",
    ],
    "properties": {
        "schema": {"const": "gdbench-history"},
        "version": {"const": 1},
        "threshold": {"type": "number"},
        "fail_on_regression": _NUMBER,
        "require_testable": {"type": "boolean"},
        "runs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["run", "folder", "when", "commit"],
                "properties": {
                    "run": {"type": "integer"},
                    "folder": {"type": "string"},
                    "when": {"type": "string"},
                    "commit": {"type": "string"},
                },
            },
        },
        "cells": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["cell", "runs", "latest_run", "decision", "evidence"],
                "properties": {
                    "cell": {"type": "string"},
                    "runs": {"type": "integer"},
                    "latest_run": {"type": "integer"},
                    "time_per_step_s": _NUMBER,
                    "noise_floor": _NUMBER,
                    "decision": {
                        "enum": [
                            "regression",
                            "recovery",
                            "improvement",
                            "no step",
                            "not testable",
                            "not timed",
                        ]
                    },
                    "evidence": _TEXT,
                    "note": _TEXT,
                    "ratio": _NUMBER,
                    "low": _NUMBER,
                    "high": _NUMBER,
                    "since_run": _INT,
                    "held_by_latest_run": {"type": "boolean"},
                    "numerics_events": {"type": "integer"},
                },
            },
        },
        "events": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["kind", "cell", "run_before", "run_after", "changed", "detail"],
                "properties": {
                    "kind": {"enum": ["regression", "recovery", "improvement", "numerics"]},
                    "cell": {"type": "string"},
                    "run_before": {"type": "integer"},
                    "run_after": {"type": "integer"},
                    "folder_before": {"type": "string"},
                    "folder_after": {"type": "string"},
                    "ratio": _NUMBER,
                    "low": _NUMBER,
                    "high": _NUMBER,
                    "noise_floor": _NUMBER,
                    "changed": {
                        "type": "string",
                        "description": "what changed in the environment between the runs",
                    },
                    "detail": {"type": "string"},
                    "recovered": {"type": "boolean"},
                },
            },
        },
        "fails": {"type": "array", "items": _FAILURE},
        "exit_status": {"enum": [0, 1]},
    },
}

SCHEMAS = {"compare": COMPARE, "history": HISTORY}
