"""Declare a parameter dataclass (:mod:`yard_model.params`) as ROS parameters of a node.

:func:`declare` declares each ROS parameter with a ``ParameterDescriptor`` (description,
range, read-only unless marked dynamic), reads the values from YAML or the command line,
validates them with the dataclass's specs and ``check()``, and installs an on-set callback
that rejects bad runtime updates and applies good ones to the dataclass instance.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import Field
from typing import Any, TypeVar

from yard_model.params import ParameterError, ParamSpec, build, check_value, default_of, param_fields, param_type

T = TypeVar("T")


def _coerce(kind: Any, value: Any, name: str = "") -> Any:
    """Accept what YAML and the command line give (``20`` for a float, lists for arrays), reject wrong types.

    Float parameters are declared with dynamic typing so that ``rate_hz: 20`` in a YAML file is not refused
    by rclpy as an INTEGER; the type check therefore happens here.
    """
    origin = typing.get_origin(kind)
    if origin in (list, tuple):
        if value is None:  # rcl's YAML parser cannot type an empty list ([]) and leaves the parameter unset
            value = []
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
        kind = param_type(cls, f)
        default = default_of(f)
        desc = ps.description + (f" [{ps.unit}]" if ps.unit else "")
        if ps.choices:
            desc += f" One of: {', '.join(ps.choices)}."
        # rclpy types an empty list as BYTE_ARRAY, so `[]` from YAML would be refused for a list of strings
        # (and a list of strings for an empty default): list parameters are dynamically typed too.
        is_list = typing.get_origin(kind) in (list, tuple)
        d = ParameterDescriptor(description=desc, read_only=not ps.dynamic,
                                dynamic_typing=_is_float_kind(kind) or is_list)
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
                v = _coerce(param_type(cls, f), p.value, p.name)
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
