"""`yard-autonomy capacity`: a tiny sweep through the CLI (worker process, table, capacity.json against its
schema, the PNG) and its bad input; the study's list parsing and findings as pure functions."""

from __future__ import annotations

import json

import pytest

from yard_bringup import capacity as cap
from yard_bringup import cli
from yard_model.documents import validate


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def test_a_tiny_sweep_prints_the_table_and_writes_a_valid_document_and_the_figure(capsys, tmp_path):
    out = tmp_path / "cap"
    code, text = run_cli(capsys, "capacity", "--worlds", "small_yard", "--carriers", "2", "--hours", "0.25",
                         "--seeds", "1", "--jobs", "1", "--containers-per-day", "1000", "--out", str(out))
    assert code == 0, text
    assert "Capacity of small_yard" in text
    assert "keeps up" in text and "2,000 containers a day" in text
    doc = json.loads((out / "capacity.json").read_text())
    validate("capacity", doc)
    assert [(p["world"], p["carriers"], p["seed"]) for p in doc["points"]] == [("small_yard", 2, 0)]
    rows = doc["worlds"]["small_yard"]["rows"]
    assert [r["carriers"] for r in rows] == [2]
    for p in doc["points"]:
        assert p["hours"] == 0.25 and p["start_hour"] == 7.0
        assert p["offered_per_day"] > 0  # trucks came in the quarter hour
        assert p["containers_across_per_day"] == pytest.approx(p["containers_across"] * 96, abs=0.1)
    # small_yard at 2 carriers cannot carry 2,000 a day in a quarter hour from empty: the finding says so
    assert doc["worlds"]["small_yard"]["smallest_fleet_for_goal"] is None
    assert any("none of the swept fleets" in v for v in doc["verdicts"])
    png = out / "capacity.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("args", "says"), [
    (["--worlds", "no_such_world"], "no_such_world"),
    (["--carriers", "0"], "--carriers: must be >= 1"),
    (["--carriers", ""], "comma-separated list"),
    (["--carriers", "2,,4"], "comma-separated list"),
    (["--carriers", "two"], "not a whole number"),
    (["--containers-per-day", "-5"], "positive"),
    (["--worlds", "small_yard", "--carriers", "500"], "parking + charging spots"),
    (["--start-hour", "25"], "--start-hour"),
])
def test_bad_input_is_refused_with_a_clear_error(capsys, tmp_path, args, says):
    code, text = run_cli(capsys, "capacity", "--worlds", "small_yard", "--carriers", "1", "--out",
                         str(tmp_path / "x"), *args)
    assert code == 1
    assert "error:" in text and says in " ".join(text.split())
    assert not (tmp_path / "x" / "capacity.json").exists()


def point(world: str, carriers: int, demand: float, seed: int, across: float, queue: int, conflicts: int = 0) -> dict:
    return {"world": world, "carriers": carriers, "containers_per_day": demand, "seed": seed, "hours": 2.0,
            "start_hour": 7.0, "containers_across": int(across / 12), "containers_across_per_day": across,
            "offered_per_day": 2400.0, "carrier_utilisation": 0.5, "crane_moves_per_crane_hour": 10.0,
            "lead_time_mean_s": 900.0, "lead_time_p95_s": 1500.0, "gate_queue_end": queue, "gate_queue_max": queue,
            "collisions": 0, "conflicts": conflicts, "deadlocks": 0, "crane_limit_violations": 0,
            "wall_s": 1.0, "cpu_s": 1.0}


def test_findings_need_every_seed():
    results = [
        point("w", 4, 1000, 0, 1500, 40), point("w", 4, 1000, 1, 1600, 35),
        point("w", 8, 1000, 0, 2300, 2), point("w", 8, 1000, 1, 1990, 3),  # one seed short of the goal
        point("w", 12, 1000, 0, 2500, 1), point("w", 12, 1000, 1, 2400, 0),
        point("w", 12, 1500, 0, 3000, 4), point("w", 12, 1500, 1, 3100, 30),  # one seed's queue grows
        point("v", 4, 1000, 0, 2100, 0, conflicts=1), point("v", 4, 1000, 1, 2100, 0),  # unsafe on one seed
    ]
    summary = cap.summarise(results, keep_up_queue=10)
    assert summary["w"]["smallest_fleet_for_goal"] == {"carriers": 12, "containers_per_day": 1000}
    assert summary["w"]["largest_demand_kept_up"] == {"containers_per_day": 1000, "carriers": 8}
    assert summary["v"]["smallest_fleet_for_goal"] is None
    assert summary["v"]["largest_demand_kept_up"] is None
    doc = cap.capacity_document(results, summary, hours=2.0, start_hour=7.0, seeds=2, jobs=2, keep_up_queue=10,
                                wall_s=3.0)
    validate("capacity", doc)
    assert any(v.startswith("w: 12 carriers carry 2,000") for v in doc["verdicts"])


def test_lists_parse_sorted_without_repeats():
    assert cap.int_list("12, 4,8,4", "--carriers") == [4, 8, 12]
    assert cap.float_list("1500,1000", "--containers-per-day") == [1000.0, 1500.0]
    assert cap.name_list("b,a,b", "--worlds") == ["b", "a"]
    pts = cap.plan_points(["a"], [1, 2], [10.0], 2, 1.0, 7.0)
    assert len(pts) == 4 and pts[0].carriers == 2  # biggest first


def test_build_fleet_run_starts_the_demand_at_the_given_hour():
    from yard_harness.day import build_fleet_run
    from yard_model import load_world
    from yard_model.resources import world_path

    world = load_world(world_path("small_yard"))
    with pytest.raises(ValueError, match="start_hour"):
        build_fleet_run(world, 1, start_hour=24.0)
    scen = build_fleet_run(world, 1, start_hour=9.0).scenario
    assert scen.cfg.start_hour == 9.0
    profile = scen.cfg.hourly_profile  # t = 0 is 09:00, t = 15 h is midnight
    assert scen.rate_at(0.0) / scen.rate_at(15 * 3600.0) == pytest.approx(profile[9] / profile[0])
