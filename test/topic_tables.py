"""Read the topic tables of README.md and docs/architecture.md (for the graph test)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CODE = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class TopicRow:
    topic: str  # as written: /clock, /<c>/gnss/fix, /<k>/joint_states
    type: str  # pkg/Type
    direction: str  # "pub" | "sub"
    rate_hz: float | None  # None: not periodic (events, commands)
    optional: bool  # published only when a parameter enables it
    on_change: bool = False  # also published on every change: the rate is a floor

    def expand(self, carriers: list[str], cranes: list[str]) -> list[str]:
        if "<c>" in self.topic:
            return [self.topic.replace("<c>", c) for c in carriers]
        if "<k>" in self.topic:
            return [self.topic.replace("<k>", k) for k in cranes]
        return [self.topic]


def markdown_tables(text: str) -> list[list[dict[str, str]]]:
    """Every pipe table in ``text`` as a list of {header: cell} rows."""
    tables, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and re.match(r"^\|\s*-", lines[i + 1]):
            header = [h.strip() for h in lines[i].strip().strip("|").split("|")]
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in re.split(r"(?<!\\)\|", lines[i].strip().strip("|"))]
                rows.append(dict(zip(header, cells)))
                i += 1
            tables.append(rows)
        else:
            i += 1
    return tables


def section(text: str, marker: str) -> str:
    """The README text below ``<!-- section: marker ...-->`` up to the next section marker."""
    start = text.index(f"<!-- section: {marker}")
    end = text.find("<!-- section:", start + 1)
    return text[start:end if end >= 0 else None]


def _first_code(cell: str) -> str:
    m = CODE.search(cell)
    if not m:
        raise ValueError(f"no `code` in table cell {cell!r}")
    return m.group(1)


def readme_topics(path: Path = REPO / "README.md") -> list[TopicRow]:
    """The 'Topics of the simulated yard' table of the README's quickstart section."""
    tables = [t for t in markdown_tables(section(path.read_text(), "quickstart")) if t and "Rate [Hz]" in t[0]]
    (table,) = tables
    out = []
    for row in table:
        rate = row["Rate [Hz]"]
        out.append(TopicRow(_first_code(row["Topic"]), _first_code(row["Type"]), row["Dir"],
                            float(rate) if re.fullmatch(r"[0-9.]+", rate) else None,
                            row["Notes"].startswith("optional"), "on change" in row["Notes"]))
    return out


def architecture_simulator_topics(path: Path = REPO / "docs" / "architecture.md") -> dict[str, tuple[str, str]]:
    """{topic: (type, dir)} of the simulator's table in the interface contract."""
    text = path.read_text()
    start = text.index("### Simulator")
    end = text.index("\n### ", start + 1)
    (table, *_) = markdown_tables(text[start:end])
    return {_first_code(r["Topic"]): (_first_code(r["Type"]), r["Dir"]) for r in table}


def architecture_topics(path: Path = REPO / "docs" / "architecture.md") -> list[str]:
    """Every topic named in a topic table of the interface contract (all nodes, ``<c>``/``<k>`` unexpanded)."""
    out = []
    for table in markdown_tables(path.read_text()):
        for row in table:
            cell = row.get("Topic")
            if cell and CODE.search(cell):
                out.append(_first_code(cell))
    return out
