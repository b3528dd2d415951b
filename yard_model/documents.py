"""JSON documents carried in ``std_msgs/String``, validated against shipped schemas.

Where no standard ROS message fits (transport orders, crane jobs, events,
sim commands) the interface is a JSON document with a JSON Schema in
``yard_model/schemas/<name>.schema.json`` — the pattern of Open-RMF's task
API and VDA 5050. ``parse_document`` turns a raw string into a validated
dict or raises ``DocumentError`` with a message fit for a rejection event.

Validation has a fast path: jsonschema-rs (a compiled validator, ~1 µs for an order against
~400 µs for jsonschema) says whether a document is valid; only an invalid one — or one it cannot
take, such as a NaN — goes through jsonschema, whose ``best_match`` names the offending field.
Both implement draft 2020-12; without jsonschema-rs installed, jsonschema does everything.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

try:
    import jsonschema_rs
except ImportError:  # optional: jsonschema alone gives the same answers, slower
    jsonschema_rs = None


class DocumentError(ValueError):
    """A JSON document is malformed or does not match its schema."""


@cache
def schema(name: str) -> dict[str, Any]:
    """The JSON Schema named ``name`` (file ``schemas/<name>.schema.json``)."""
    path = resources.files("yard_model").joinpath(f"schemas/{name}.schema.json")
    if not path.is_file():
        raise KeyError(f"no schema named '{name}'")
    return json.loads(path.read_text())


@cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema(name))


@cache
def _fast_validator(name: str):
    return None if jsonschema_rs is None else jsonschema_rs.validator_for(schema(name))


def first_error(name: str, doc: Any) -> jsonschema.ValidationError | None:
    """None if ``doc`` matches schema ``name``, else the error that best says why (jsonschema's best_match)."""
    fast = _fast_validator(name)
    if fast is not None:
        try:
            if fast.is_valid(doc):
                return None
        except (ValueError, TypeError, OverflowError):  # a value it cannot represent (NaN, huge int)
            pass
    return jsonschema.exceptions.best_match(_validator(name).iter_errors(doc))


def validate(name: str, doc: Any) -> None:
    """Raise DocumentError naming the first offending field if ``doc`` breaks schema ``name``."""
    err = first_error(name, doc)
    if err is not None:
        where = "/".join(str(p) for p in err.absolute_path) or "(document)"
        raise DocumentError(f"{name}: {where}: {err.message}")


def parse_document(name: str, text: str) -> dict[str, Any]:
    """Parse JSON text and validate it against schema ``name``."""
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, TypeError) as exc:
        raise DocumentError(f"{name}: not valid JSON: {exc}") from exc
    validate(name, doc)
    return doc


def dump_document(name: str, doc: dict[str, Any]) -> str:
    """Validate and serialise a document we are about to publish (catches our own bugs)."""
    validate(name, doc)
    return json.dumps(doc, separators=(",", ":"), sort_keys=True)
