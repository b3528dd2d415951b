"""Node parameters from one dataclass: declare, describe, validate, document.

Every node keeps its parameters in a dataclass whose fields carry a
description, a unit and bounds (``field(metadata=spec(...))``). From that one
definition this module

* declares each ROS parameter with a ``ParameterDescriptor`` (description,
  range, read-only unless marked dynamic) and reads the values from YAML or
  the command line;
* checks ranges and the dataclass's own ``check()`` (combinations) at start-up
  and raises ``ParameterError`` with the parameter's name on a bad value;
* installs an on-set callback that rejects bad runtime updates and applies
  good ones to the dataclass instance;
* renders the README parameter table, so docs cannot drift from code (a test
  compares them).

The pattern follows Nav2's Regulated Pure Pursuit parameter handler; the
dataclass and the checks stay free of rclpy so cores can use them directly.
"""

from __future__ import annotations

import dataclasses
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


def _type_of(cls: type, f: Field) -> Any:
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


def _coerce(kind: Any, value: Any, name: str = "") -> Any:
    """Accept what YAML and the command line give (``20`` for a float, lists for arrays), reject wrong types.

    Float parameters are declared with dynamic typing so that ``rate_hz: 20`` in a YAML file is not refused
    by rclpy as an INTEGER; the type check therefore happens here.
    """
    origin = typing.get_origin(kind)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ParameterError(f"{name}: expected a list, got {value!r}")
        (inner, *_) = typing.get_args(kind) or (Any,)
        items = [_coerce(inner, v, name) for v in value]
        return tuple(items) if origin is tuple else items
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParameterError(f"{name}: expected a number, got {value!r}")
        return float(value)
    if kind in (int, str, bool) and type(value) is not kind:
        raise ParameterError(f"{name}: expected {kind.__name__}, got {value!r}")
    return value


def _is_float_kind(kind: Any) -> bool:
    if kind is float:
        return True
    return typing.get_origin(kind) in (list, tuple) and (typing.get_args(kind) or (None,))[0] is float


def declare(node, cls: type[T], prefix: str = "") -> T:
    """Declare every parameter of ``cls`` on ``node`` and return the validated values.

    Runtime updates to dynamic parameters are validated and applied to the
    returned instance; updates to the others are rejected with a reason.
    """
    from rcl_interfaces.msg import (  # local import: the dataclasses stay usable without ROS
        IntegerRange,
        ParameterDescriptor,
        SetParametersResult,
    )

    values: dict[str, Any] = {}
    by_name: dict[str, Field] = {}
    for f in param_fields(cls):
        ps: ParamSpec = f.metadata["param"]
        name = prefix + f.name
        kind = _type_of(cls, f)
        default = default_of(f)
        desc = ps.description + (f" [{ps.unit}]" if ps.unit else "")
        if ps.choices:
            desc += f" One of: {', '.join(ps.choices)}."
        d = ParameterDescriptor(description=desc, read_only=not ps.dynamic, dynamic_typing=_is_float_kind(kind))
        # Float ranges are checked by check_value (rclpy skips them for dynamically typed parameters).
        if kind is int and ps.min is not None and ps.max is not None:
            d.integer_range = [IntegerRange(from_value=int(ps.min), to_value=int(ps.max), step=0)]
        ros_default = list(default) if isinstance(default, tuple) else default
        try:
            node.declare_parameter(name, ros_default, d)
        except Exception as exc:  # rclpy raises several types for a bad YAML value
            raise ParameterError(f"{name}: {exc}") from exc
        values[f.name] = _coerce(kind, node.get_parameter(name).value, name)
        by_name[name] = f
    obj = build(cls, values)

    def on_set(params) -> SetParametersResult:
        updates = {}
        for p in params:
            f = by_name.get(p.name)
            if f is None:
                continue
            ps = f.metadata["param"]
            if not ps.dynamic:
                return SetParametersResult(successful=False, reason=f"{p.name} is read-only; restart the node")
            try:
                v = _coerce(_type_of(cls, f), p.value, p.name)
                check_value(p.name, v, ps)
            except ParameterError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
            updates[f.name] = v
        if updates:
            trial = dataclasses.replace(obj, **updates)
            try:
                check = getattr(trial, "check", None)
                if check is not None:
                    check()
            except ParameterError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
            for k, v in updates.items():
                object.__setattr__(obj, k, v)
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)
    return obj


def markdown_table(cls: type, prefix: str = "") -> str:
    """README table of a parameter dataclass: name, type, default, unit, description."""
    rows = ["| Parameter | Type | Default | Unit | Description |", "| --- | --- | --- | --- | --- |"]
    for f in param_fields(cls):
        ps: ParamSpec = f.metadata["param"]
        kind = _type_of(cls, f)
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
