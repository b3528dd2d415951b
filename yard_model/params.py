"""Node parameters from one dataclass: describe, validate, document (no ROS).

Every node keeps its parameters in a dataclass whose fields carry a
description, a unit and bounds (``field(metadata=spec(...))``). From that one
definition this module

* checks ranges and the dataclass's own ``check()`` (combinations) and raises
  ``ParameterError`` with the parameter's name on a bad value (:func:`build`);
* renders the parameter table of the docs, so docs cannot drift from code (a
  test compares them).

The definitions and the checks are free of ROS so that cores import them
without the glue; :func:`yard_ros.params.declare` turns the same dataclass into
declared ROS parameters (descriptors, YAML values, on-set validation). The
pattern follows Nav2's Regulated Pure Pursuit parameter handler.
"""

from __future__ import annotations

import math
import typing
from dataclasses import MISSING, Field, dataclass, fields
from typing import Any, TypeVar

T = TypeVar("T")


class ParameterError(ValueError):
    """A parameter value is out of range or inconsistent; the message names it."""


@dataclass(frozen=True)
class ParamSpec:
    """What a reader needs to know about one parameter."""

    description: str
    unit: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    dynamic: bool = False  # may change while the node runs


def spec(description: str, unit: str = "", min: float | None = None, max: float | None = None,
         choices: tuple[str, ...] = (), dynamic: bool = False) -> dict[str, ParamSpec]:
    """Field metadata for a parameter: ``x: float = field(default=1.0, metadata=spec(...))``."""
    return {"param": ParamSpec(description, unit, min, max, tuple(choices), dynamic)}


def param_fields(cls: type) -> list[Field]:
    """Dataclass fields that are parameters (carry a ParamSpec)."""
    return [f for f in fields(cls) if "param" in f.metadata]


def default_of(f: Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    raise ParameterError(f"parameter '{f.name}' has no default")


def param_type(cls: type, f: Field) -> Any:
    """The annotated type of a parameter field (string annotations resolved)."""
    hints = typing.get_type_hints(cls)
    return hints[f.name]


def check_value(name: str, value: Any, ps: ParamSpec) -> None:
    """Raise ParameterError if one value breaks its spec."""
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in values:
        if isinstance(v, float) and not math.isfinite(v):
            raise ParameterError(f"{name}: {v} is not a finite number")
        if ps.min is not None and isinstance(v, (int, float)) and v < ps.min:
            raise ParameterError(f"{name}: {v} is below the minimum {ps.min} {ps.unit}".rstrip())
        if ps.max is not None and isinstance(v, (int, float)) and v > ps.max:
            raise ParameterError(f"{name}: {v} is above the maximum {ps.max} {ps.unit}".rstrip())
        if ps.choices and v not in ps.choices:
            raise ParameterError(f"{name}: '{v}' is not one of {', '.join(ps.choices)}")


def build(cls: type[T], values: dict[str, Any]) -> T:
    """Instantiate and validate a parameter dataclass from plain values (no ROS)."""
    for f in param_fields(cls):
        if f.name in values:
            check_value(f.name, values[f.name], f.metadata["param"])
    obj = cls(**values)
    check = getattr(obj, "check", None)
    if check is not None:
        check()
    return obj


def markdown_table(cls: type, prefix: str = "") -> str:
    """README table of a parameter dataclass: name, type, default, unit, description."""
    rows = ["| Parameter | Type | Default | Unit | Description |", "| --- | --- | --- | --- | --- |"]
    for f in param_fields(cls):
        ps: ParamSpec = f.metadata["param"]
        kind = param_type(cls, f)
        tname = getattr(kind, "__name__", str(kind)).replace("typing.", "")
        if typing.get_origin(kind) in (list, tuple):
            tname = f"list[{getattr(typing.get_args(kind)[0], '__name__', 'any')}]"
        default = default_of(f)
        shown = f"`{list(default) if isinstance(default, tuple) else default!r}`"
        desc = ps.description
        if ps.min is not None or ps.max is not None:
            desc += f" Range [{ps.min if ps.min is not None else '-inf'}, {ps.max if ps.max is not None else 'inf'}]."
        if ps.choices:
            desc += f" One of: {', '.join(ps.choices)}."
        if ps.dynamic:
            desc += " Dynamic."
        rows.append(f"| `{prefix}{f.name}` | {tname} | {shown} | {ps.unit} | {desc} |")
    return "\n".join(rows)
