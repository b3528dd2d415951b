"""Find the package's share files (launch/, config/, sim_worlds/) in every supported install.

ROS 2 code usually asks ``ament_index_python.get_package_share_directory``, which
only works where the ament index lists the package: a colcon install (after
``source install/setup.bash``) or a normal ``pip install .`` with
``AMENT_PREFIX_PATH`` pointing at its prefix. An editable install
(``pip install -e .``) installs no data files at all, and a plain venv usually has
no ``AMENT_PREFIX_PATH``. So the lookup tries, in order:

1. ``source tree``: the folder above this module, when it holds our
   ``package.xml`` (editable install, a colcon ``--symlink-install``, or running
   from a checkout);
2. ``install prefix``: ``<prefix>/share/yard_autonomy`` for every ancestor
   ``<prefix>`` of this module's folder (``pip install --prefix``, a venv, a colcon
   install space), which needs no environment variable;
3. ``ament index``: every prefix in ``AMENT_PREFIX_PATH`` that registers the
   package (what ``get_package_share_directory`` does, without needing its wheel);
4. ``python prefix``: ``sys.prefix``, ``sys.base_prefix`` and the user base.

The first candidate holding our ``package.xml`` wins, so the files always match
the code that runs. No rclpy import: the bringup command uses this before
starting any node.
"""

from __future__ import annotations

import os
import site
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "yard_autonomy"
DEFAULT_WORLD = "youyiguan"  # the shipped world every node, config file and command defaults to
WORLD_SUFFIXES = (".yaml", ".yml")


class ShareNotFoundError(FileNotFoundError):
    """The share directory or a file in it is missing; the message lists where we looked."""


@dataclass(frozen=True)
class Candidate:
    """A place that might hold the share files, and which rule proposed it."""

    how: str
    path: Path


def _is_share_dir(path: Path) -> bool:
    """True if ``path`` holds this package's ``package.xml`` (a share dir or the source tree)."""
    manifest = path / "package.xml"
    try:
        return manifest.is_file() and f"<name>{PACKAGE}</name>" in manifest.read_text(encoding="utf-8")
    except OSError:
        return False


def _module_dir() -> Path:
    return Path(__file__).resolve().parent


def _ament_prefixes(env: dict[str, str]) -> list[Path]:
    """Prefixes in AMENT_PREFIX_PATH whose ament index registers the package."""
    out = []
    for entry in env.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if not entry:
            continue
        prefix = Path(entry)
        if (prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE).is_file():
            out.append(prefix)
    return out


def candidates(module_dir: Path | None = None, env: dict[str, str] | None = None) -> list[Candidate]:
    """Every place the share files may be, in the order they are tried."""
    module_dir = _module_dir() if module_dir is None else module_dir
    env = dict(os.environ) if env is None else env
    out = [Candidate("source tree", module_dir.parent)]
    out += [Candidate("install prefix", p / "share" / PACKAGE) for p in module_dir.parents]
    out += [Candidate("ament index (AMENT_PREFIX_PATH)", p / "share" / PACKAGE) for p in _ament_prefixes(env)]
    prefixes = [sys.prefix, sys.base_prefix, site.getuserbase()]
    out += [Candidate("python prefix", Path(p) / "share" / PACKAGE) for p in dict.fromkeys(prefixes)]
    seen: set[Path] = set()
    unique = []
    for c in out:
        if c.path not in seen:
            seen.add(c.path)
            unique.append(c)
    return unique


def find_share_dir(module_dir: Path | None = None, env: dict[str, str] | None = None) -> tuple[Path, str]:
    """(share dir, which rule found it); raises ShareNotFoundError listing every place tried."""
    tried = candidates(module_dir, env)
    for c in tried:
        if _is_share_dir(c.path):
            return c.path, c.how
    env = dict(os.environ) if env is None else env
    lines = "\n".join(f"  - {c.path}  ({c.how})" for c in tried)
    hint = "" if env.get("AMENT_PREFIX_PATH") else (
        "\nAMENT_PREFIX_PATH is not set; after a colcon build, `source install/setup.bash` first.")
    raise ShareNotFoundError(
        f"cannot find the share files of package '{PACKAGE}' (launch/, config/, sim_worlds/ with its "
        f"package.xml). Looked in:\n{lines}{hint}\nReinstall with `pip install .` (or `pip install -e .` "
        "from a checkout), or build with colcon and source install/setup.bash.")


def share_dir() -> Path:
    """The folder holding this package's launch/, config/ and sim_worlds/ folders."""
    return find_share_dir()[0]


def _file_in(folder: str, name: str, suffixes: tuple[str, ...], what: str) -> Path:
    share = share_dir()
    base = share / folder
    names = [name] if name.endswith(suffixes) else [name + s for s in suffixes]
    for n in names:
        p = base / n
        if p.is_file():
            return p
    have = sorted(p.name for p in base.glob("*") if p.name.endswith(suffixes)) if base.is_dir() else []
    raise ShareNotFoundError(
        f"no {what} '{name}' in {base} (tried {', '.join(names)}); available: {', '.join(have) or 'none'}")


def available_worlds() -> list[str]:
    """Names of the worlds shipped in sim_worlds/."""
    base = share_dir() / "sim_worlds"
    return sorted({p.stem for s in WORLD_SUFFIXES for p in base.glob(f"*{s}")})


def world_path(name_or_path: str | os.PathLike) -> Path:
    """A world file: an existing path as given, else a shipped world by name (``youyiguan``).

    Anything that looks like a path (has a folder part or a suffix) must exist;
    a bare name is looked up in the share dir's sim_worlds/.
    """
    raw = str(name_or_path)
    p = Path(raw).expanduser()
    if p.is_file():
        return p.resolve()
    if p.is_dir():
        found = sorted(q.name for q in p.iterdir() if q.suffix in WORLD_SUFFIXES and q.is_file())
        raise ShareNotFoundError(f"{p} is a folder, not a world file" +
                                 (f"; world files in it: {', '.join(found)}" if found else ""))
    if os.sep in raw or "/" in raw or p.suffix:
        if p.suffix and p.suffix not in WORLD_SUFFIXES:
            raise ShareNotFoundError(f"world file {p} does not exist (and '{p.suffix}' is not a world file suffix)")
        if os.sep in raw or "/" in raw:
            raise ShareNotFoundError(f"world file {p} does not exist")
    return _file_in("sim_worlds", raw, WORLD_SUFFIXES, "world")


def config_path(name: str) -> Path:
    """A shipped parameter file by name: ``yard_sim`` or ``yard_sim.yaml`` -> config/yard_sim.yaml."""
    return _file_in("config", name, (".yaml",), "parameter file")


def launch_path(name: str) -> Path:
    """A shipped launch file by name: ``yard_sim`` or ``yard_sim.launch.py``."""
    return _file_in("launch", name, (".launch.py",), "launch file")
