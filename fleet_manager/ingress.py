"""Order ingress: what a message on ``/fleet/orders`` may cost before it is trusted, and its answer.

Every message gets exactly one answer. Checks run cheapest first, each bounding the next one's cost:

1. size of the whole message (``max_message_bytes``) — nothing longer is parsed;
2. nesting depth, counted on the raw text with string literals removed (``max_depth``) — the
   JSON parser recurses, so ``"[" * 100000`` must never reach it;
3. JSON parsing (no exception escapes: bad syntax, huge integers, recursion);
4. every string, key or value, at most ``max_string_chars`` — before the schema check, whose
   messages would otherwise echo a megabyte-long value;
5. the ``transport_order`` schema, with the reason rebuilt from a short excerpt.

Reasons never quote more than ``quote_chars`` characters of a client's value, JSON-escaped
(:func:`quote`), so answers and log lines stay short whatever was sent. The client's
``order_id`` is echoed whenever one can be read — from the parsed document, or, for a message
that is never parsed, from its first few kilobytes (:func:`peek_order_id`) — so a client can
match every answer to what it sent; ``""`` only when there is no readable id at all.

Three forms (see ``transport_order.schema.json``): a full order, a cancel
(``{"order_id": ..., "cancel": true}``, or a full order with ``cancel: true``) and a query
(``{"order_id": ..., "query": true}``, answered with the order's current state). Pure: no
rclpy, no clock, no store.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from yard_model.documents import first_error

ORDER_ID_MAX_CHARS = 128  # transport_order.schema.json: order_id maxLength
PEEK_CHARS = 4096  # how much of an unparsed message is searched for its order_id
FULL_ORDER_KEYS = ("container_id", "origin", "destination")

_STRING = r'"(?:[^"\\]|\\.)*"'
_STRING_RE = re.compile(_STRING, re.S)
_BRACKET_RE = re.compile(r"[\[\]{}]")
_ORDER_ID_RE = re.compile(r'"order_id"\s*:\s*(' + _STRING + ")", re.S)


@dataclass(frozen=True)
class IngressLimits:
    """Bounds on one message; see the module docstring for the order they are applied in."""

    max_message_bytes: int = 8192  # an order is ~250 bytes
    max_depth: int = 8  # an order nests 2 levels
    max_string_chars: int = ORDER_ID_MAX_CHARS  # any key or string value
    quote_chars: int = 32  # of a bad value, in a reason


@dataclass(frozen=True)
class Screened:
    """One message after screening: a form and its document, or why it is malformed."""

    order_id: str  # the client's id; "" when none could be read
    kind: str  # "order" | "cancel" | "query" | "malformed"
    doc: dict[str, Any] | None = None
    reason: str = ""


def quote(value: Any, n: int = 32) -> str:
    """A short, JSON-escaped excerpt of a client's value for a reason or a log line."""
    if isinstance(value, str):
        cut = len(value) > n
        return json.dumps(value[:n]) + (f"… ({len(value):,} characters)" if cut else "")
    try:
        text = json.dumps(value, allow_nan=True, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= n else text[:n] + "…"


def valid_order_id(value: Any) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= ORDER_ID_MAX_CHARS


def peek_order_id(text: str) -> str:
    """The ``order_id`` of a message that will not be parsed (too large, too deep, bad JSON), if readable."""
    m = _ORDER_ID_RE.search(text, 0, PEEK_CHARS)
    if m is None:
        return ""
    try:
        oid = json.loads(m.group(1))
    except ValueError:
        return ""
    return oid if valid_order_id(oid) else ""


def nesting_depth(text: str, limit: int) -> int:
    """Bracket nesting depth of JSON text outside string literals; stops counting past ``limit``."""
    depth = deepest = 0
    for m in _BRACKET_RE.finditer(_STRING_RE.sub("", text)):
        if m.group() in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        else:
            depth -= 1
    return deepest


def _long_string(doc: Any, limit: int, path: str = "") -> tuple[str, str] | None:
    """(path, value) of the first key or string longer than ``limit`` (depth already bounded)."""
    if isinstance(doc, str):
        return (path or "(document)", doc) if len(doc) > limit else None
    if isinstance(doc, dict):
        for k, v in doc.items():
            if len(k) > limit:
                return (path + "/" if path else "") + "(key)", k
            found = _long_string(v, limit, f"{path}/{k}" if path else k)
            if found:
                return found
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            found = _long_string(v, limit, f"{path}/{i}")
            if found:
                return found
    return None


def _schema_reason(doc: dict, n: int) -> str | None:
    err = first_error("transport_order", doc)
    if err is None:
        return None
    where = "/".join(str(p) for p in err.absolute_path) or "(document)"
    what = {"type": f"must be {err.validator_value}", "enum": "is not one of the allowed values",
            "const": f"must be {json.dumps(err.validator_value)}", "required": "misses a required key",
            "additionalProperties": "has a key the schema does not allow",
            "maxLength": f"is longer than {err.validator_value} characters",
            "minLength": "is empty", "minimum": f"is below {err.validator_value}",
            "maximum": f"is above {err.validator_value}"}.get(str(err.validator), f"breaks '{err.validator}'")
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        what += f": {quote(extra[0] if extra else '', n)}"
    elif err.validator == "required":
        missing = [k for k in err.validator_value if k not in err.instance]
        what += f": {', '.join(missing)}"
    else:
        what += f" (got {quote(err.instance, n)})"
    return f"malformed order: {quote(where, 2 * n).strip(chr(34))}: {what}"


def screen(text: Any, limits: IngressLimits = IngressLimits()) -> Screened:
    """Classify one raw message; never raises."""
    n = limits.quote_chars
    if not isinstance(text, str):
        return Screened("", "malformed", reason=f"malformed order: expected text, got {type(text).__name__}")
    if len(text) > limits.max_message_bytes or len(text.encode("utf-8", "surrogatepass")) > limits.max_message_bytes:
        size = len(text.encode("utf-8", "surrogatepass"))
        return Screened(peek_order_id(text), "malformed",
                        reason=f"message too large: {size:,} bytes (limit {limits.max_message_bytes:,})")
    depth = nesting_depth(text, limits.max_depth)
    if depth > limits.max_depth:
        return Screened(peek_order_id(text), "malformed",
                        reason=f"malformed order: nested deeper than {limits.max_depth} levels")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return Screened(peek_order_id(text), "malformed", reason=f"malformed order: not valid JSON "
                                                                 f"({quote(str(exc), 2 * n)})")
    if not isinstance(doc, dict):
        return Screened("", "malformed", reason=f"malformed order: expected a JSON object, got {quote(doc, n)}")
    oid = doc.get("order_id")
    echo = oid if valid_order_id(oid) else ""
    long = _long_string(doc, limits.max_string_chars)
    if long is not None:
        where, value = long
        return Screened(echo, "malformed", reason=f"malformed order: {quote(where, 2 * n).strip(chr(34))} is "
                                                  f"{len(value):,} characters long (limit "
                                                  f"{limits.max_string_chars}): {quote(value, n)}")
    kind = "cancel" if doc.get("cancel") is True else "query" if doc.get("query") is True else "order"
    if kind == "order":
        missing = [k for k in ("order_id", *FULL_ORDER_KEYS) if k not in doc]
        if missing:
            return Screened(echo, "malformed", reason=f"malformed order: missing {', '.join(missing)}")
    reason = _schema_reason(doc, n)
    if reason is not None:
        return Screened(echo, "malformed", reason=reason)
    return Screened(oid, kind, doc)


def rejection(order_id: str, reason: str, now: float) -> dict[str, Any]:
    """The ``order_event`` answering a message that was not accepted."""
    return {"order_id": order_id, "event": "rejected", "reason": reason, "stamp": now}


def overloaded(text: Any, why: str, now: float) -> dict[str, Any]:
    """The answer to a message shed unread: its id if readable, ``overloaded`` and why (retry later)."""
    oid = peek_order_id(text) if isinstance(text, str) else ""
    return rejection(oid, f"overloaded: {why}; not stored, retry later", now)
