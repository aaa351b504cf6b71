"""The schema written out: a commented params file, and the docs' table of every key.

Both are generated from ``pipeline.params.SCHEMA`` (defaults, ranges, choices, help) and
``SECTION_HELP``, so neither can drift from what validation accepts: the repository's
``params.yaml`` is ``render(defaults())`` and docs/reference.md's table is ``params_table()``,
and a test fails when either is stale (``python -m stages.compose_params --write-docs`` and
``python -m stages.compose_params`` rewrite them).
"""
from __future__ import annotations

import json
import re
import textwrap

from pipeline.params import SCHEMA, SECTION_HELP, Field

COMMENT_COLUMN = 30  # where a key's comment starts, as in a hand-written params file
WIDTH = 110  # lines are wrapped at this width
_PLAIN = re.compile(r"[A-Za-z_./][\w./-]*")
_RESERVED = {"null", "true", "false", "yes", "no", "on", "off", "y", "n", "~", "nan", "inf"}


def yaml_value(value) -> str:
    """``value`` in YAML flow style, read back as the same value and type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        plain = _PLAIN.fullmatch(value) and value.lower().lstrip(".") not in _RESERVED
        return value if plain else json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(yaml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {yaml_value(item)}" for key, item in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as a params value")


def _commented(text: str, comment: str) -> list[str]:
    """``text`` with ``comment`` from COMMENT_COLUMN, wrapped onto comment lines below it."""
    if not comment:
        return [text]
    start = max(COMMENT_COLUMN, len(text) + 1)
    first, *rest = textwrap.wrap(comment, max(WIDTH - start - 2, 30)) or [""]
    lines = [f"{text.ljust(start)}# {first}"]
    for chunk in textwrap.wrap(" ".join(rest), WIDTH - COMMENT_COLUMN - 2) if rest else []:
        lines.append(f"{' ' * COMMENT_COLUMN}# {chunk}")
    return lines


def _section_lines(params: dict, schema: dict, prefix: str, depth: int) -> list[str]:
    indent = "  " * depth
    lines = []
    for name, spec in schema.items():
        key = f"{prefix}.{name}" if prefix else name
        value = params[name]
        if isinstance(spec, dict):
            if depth == 0:
                lines.append("")
            lines += _commented(f"{indent}{name}:", SECTION_HELP.get(key, ""))
            lines += _section_lines(value, spec, key, depth + 1)
        elif isinstance(value, list) and value and (all(isinstance(item, dict) for item in value)
                                                    or len(f"{indent}{name}: {yaml_value(value)}") > COMMENT_COLUMN + 40):
            lines += _commented(f"{indent}{name}:", spec.help)
            lines += [f"{indent}  - {yaml_value(item)}" for item in value]
        else:
            lines += _commented(f"{indent}{name}: {yaml_value(value)}", spec.help)
    return lines


def render(params: dict, header: list[str]) -> str:
    """A complete params file: ``header`` (comment lines), then every key of the schema in its
    order with its value from ``params`` and its help as a comment."""
    lines = [f"# {line}" if line else "#" for line in header]
    return "\n".join(lines + _section_lines(params, SCHEMA, "", 0)) + "\n"


def _values(field: Field) -> str:
    """What a key accepts, in words."""
    options = field.options()
    if options is not None:
        accepted = ", ".join(f"`{option}`" for option in options)
    elif isinstance(field.item, dict):
        accepted = "list of {" + ", ".join(field.item) + "}"
    elif field.kind is list:
        item = field.item
        choices = item.options() if isinstance(item, Field) else None
        accepted = ("list of " + ", ".join(f"`{choice}`" for choice in choices) if choices else
                    f"list of {item.kind.__name__}" if isinstance(item, Field) else "list")
    elif field.low is not None or field.high is not None:
        kind = field.kind.__name__ if isinstance(field.kind, type) else "number"
        low = "" if field.low is None else yaml_value(field.low)
        high = "" if field.high is None else yaml_value(field.high)
        accepted = f"{kind} {low}..{high}"
    else:
        accepted = field.kind.__name__ if isinstance(field.kind, type) else "/".join(k.__name__ for k in field.kind)
    extras = [f"`{keyword}`" for keyword in field.keywords] + (["`null`"] if field.nullable else [])
    return " or ".join([accepted, *extras])


def params_table(schema: dict = SCHEMA, prefix: str = "") -> str:
    """A markdown table of every key: its default, what it accepts, what it is."""
    rows = [] if prefix else ["| key | default | accepts | what it is |", "| --- | --- | --- | --- |"]
    for name, spec in schema.items():
        key = f"{prefix}.{name}" if prefix else name
        if isinstance(spec, dict):
            if key in SECTION_HELP:
                rows.append(f"| `{key}` | | | {SECTION_HELP[key]} |")
            rows.append(params_table(spec, key))
            continue
        what = spec.help.replace("|", "/") + (" *(speed only)*" if spec.speed_only else "")
        rows.append(f"| `{key}` | `{yaml_value(spec.default)}` | {_values(spec)} | {what} |")
    return "\n".join(rows)
