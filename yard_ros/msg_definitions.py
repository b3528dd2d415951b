"""Full ROS 2 message definitions (``ros2msg`` schema text) for MCAP recordings.

Foxglove and ``mcap_ros2.reader`` decode CDR messages from the concatenated
.msg text of a type and all its dependencies, separated by a line of 80 ``=``
and ``MSG: pkg/Type`` — the format rosbag2 writes. rosbag2 and
rosidl_runtime_py are not installable from PyPI, so this module builds that
text from the ``share/<pkg>/msg/*.msg`` files every message package installs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

PRIMITIVES = {
    "bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16",
    "int32", "uint32", "int64", "uint64", "string", "wstring",
}
SEPARATOR = "=" * 80


def _share_roots() -> Iterator[Path]:
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            yield Path(prefix) / "share"
    yield Path(sys.prefix) / "share"
    yield from sorted(Path("/opt/ros").glob("*/share"))


@cache
def msg_text(package: str, name: str) -> str:
    """The .msg source of ``package/msg/name``; raises LookupError if no install has it."""
    for root in _share_roots():
        path = root / package / "msg" / f"{name}.msg"
        if path.is_file():
            return path.read_text()
    raise LookupError(f"no definition of {package}/msg/{name} under AMENT_PREFIX_PATH, {sys.prefix}/share or /opt/ros")


def split_type(type_name: str) -> tuple[str, str]:
    """('pkg', 'Name') from 'pkg/msg/Name' or 'pkg/Name'."""
    parts = type_name.split("/")
    if len(parts) == 3 and parts[1] == "msg":
        return parts[0], parts[2]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise ValueError(f"not a message type name: '{type_name}'")


def field_types(text: str, package: str) -> list[tuple[str, str]]:
    """Non-primitive (package, Name) types used by the fields of a .msg text, in order."""
    out: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if len(words) < 2:
            continue
        if "=" in words[1] or (len(words) > 2 and words[2].startswith("=")):
            continue  # constant definition
        base = words[0].split("[", 1)[0].split("<=", 1)[0]
        if base in PRIMITIVES:
            continue
        if base == "Header":
            out.append(("std_msgs", "Header"))
        elif "/" in base:
            out.append(split_type(base))
        else:
            out.append((package, base))
    return out


@cache
def schema_text(type_name: str) -> str:
    """rosbag2-style ``ros2msg`` schema: the type's .msg text, then each dependency once."""
    package, name = split_type(type_name)
    main = msg_text(package, name)
    parts = [main.rstrip("\n")]
    seen = {(package, name)}
    queue = field_types(main, package)
    while queue:
        dep = queue.pop(0)
        if dep in seen:
            continue
        seen.add(dep)
        text = msg_text(*dep)
        parts.append(f"{SEPARATOR}\nMSG: {dep[0]}/{dep[1]}\n{text.rstrip(chr(10))}")
        queue.extend(field_types(text, dep[0]))
    return "\n".join(parts) + "\n"
