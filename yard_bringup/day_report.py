"""Report of a port day: ``kpi.json``, ``kpi.md``, the ``day.png`` plot and the console table.

Pure formatting of a ``day_kpis`` document and the :class:`~yard_harness.kpis.KpiLog` it came
from (its samples, completions and lead times), the same for ``yard-autonomy day`` and for the
graph's KPI collector (``yard-autonomy sim --out``); matplotlib runs on the Agg backend (no
display needed).
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table

from yard_harness.kpis import KpiLog
from yard_model.documents import validate


def kpi_rows(k: dict) -> list[tuple[str, str]]:
    """(figure, value) rows shared by the console table and kpi.md."""
    o, c, b, lt = k["orders"], k["containers"], k["border_crossings"], k["lead_time_s"]
    u, cr, s, e = k["carrier_utilisation"], k["cranes"], k["safety"], k["energy_kwh"]

    def minutes(v):
        return "-" if v is None else f"{v / 60.0:.1f} min"

    rows = [
        ("orders accepted / completed / failed", f"{o['accepted']} / {o['completed']} / {o['failed']}"),
        ("orders rejected / cancelled / open at end", f"{o['rejected']} / {o['cancelled']} / {o['open_at_end']}"),
        ("orders completed per hour", f"{o['completed_per_hour']:.1f}"),
    ]
    rows += [(f"containers moved {d}", str(n)) for d, n in c["moved"].items()]
    rows += [
        ("containers in by truck / out by truck / in yard", f"{c['arrived_by_truck']} / {c['departed_by_truck']} / "
                                                            f"{c['in_yard_at_end']}"),
        ("border crossings (loaded + empty)", f"{b['total']} ({b['loaded']} + {b['empty']}), "
                                              f"{b['per_day']:.0f} per day"),
        ("containers across per day vs site goal", f"{b['containers_per_day']:.0f} vs "
                                                   f"+{b['site_goal_vehicles_per_day']:.0f} vehicles/day "
                                                   f"({b['share_of_site_goal']:.0%})"),
        ("order lead time mean / median / p95", f"{minutes(lt['mean'])} / {minutes(lt['median'])} / "
                                                f"{minutes(lt['p95'])}"),
    ]
    g, cb = k.get("gate"), k.get("carrier_bays")
    if g is not None:
        w = g["truck_wait_s"]
        rows += [
            ("trucks waiting at the gate mean / max / at end",
             f"{g['trucks_waiting_mean']:.1f} / {g['trucks_waiting_max']} / {g['trucks_waiting_at_end']}"),
            ("gate wait of parked delivery trucks mean / p95", f"{minutes(w['mean'])} / {minutes(w['p95'])}"),
        ]
    cl = k.get("clearance")
    if cl is not None:
        rows += [
            ("customs clearance wait mean / p95 (released / waiting at end)",
             f"{minutes(cl['wait_s']['mean'])} / {minutes(cl['wait_s']['p95'])} ({cl['cleared']} / "
             f"{cl['waiting_at_end']})"),
            ("containers held / inspected by customs", f"{cl['held']} / {cl['inspected']}"),
        ]
        spot = cl.get("inspection_spot")
        if spot is not None:
            rows.append(("inspection spot visits / stay mean / max (on a spot at end)",
                         f"{spot['visits']} / {minutes(spot['stay_s']['mean'])} / {minutes(spot['stay_s']['max'])} "
                         f"({spot['on_spot_at_end']})"))
    if cb is not None:
        rows.append((f"carrier bays free / approached / occupied (mean of {cb['count']})",
                     f"{cb['free_mean']:.1f} / {cb['approached_mean']:.1f} / {cb['occupied_mean']:.1f}"))
    rows += [
        ("carrier utilisation (on an order / moving)", f"{u['on_order']:.0%} / {u['moving']:.0%}"),
        ("traffic wait per carrier-hour", f"{u['traffic_wait_min_per_carrier_hour']:.1f} min"),
        ("crane moves (per hour, per crane-hour)", f"{cr['moves']} ({cr['moves_per_hour']:.1f}, "
                                                   f"{cr['moves_per_crane_hour']:.1f})"),
        ("collisions / conflicts / deadlocks", f"{s['collisions']} / {_checked(s['conflicts'])} / "
                                               f"{_checked(s['deadlocks'])}"),
        ("crane limit violations", str(s.get("crane_limit_violations", 0))),
        ("operator interventions", _checked(s["interventions"])),
        ("energy used / charged", f"{e['used']:.0f} / {e['charged']:.0f} kWh"),
        ("energy per container moved", "-" if e["per_container"] is None else f"{e['per_container']:.2f} kWh"),
        ("lowest state of charge", "-" if e["soc_min"] is None else f"{e['soc_min']:.0%}"),
    ]
    return rows


def _checked(v) -> str:
    return "not checked" if v is None else str(v)


def title_of(k: dict) -> str:
    what = "Port day in the node graph" if k.get("source") == "graph" else "Simulated day"
    return f"{what}: {k['world']}, {k['carriers']} carriers, {k['simulated_hours']:g} h"


def is_safe(k: dict) -> bool:
    """No collision, conflict, deadlock or crane limit violation (unchecked figures count as safe)."""
    return all(not v for key, v in k["safety"].items() if key != "interventions")


def kpi_table(k: dict) -> Table:
    t = Table(title=title_of(k), title_justify="left")
    t.add_column("KPI")
    t.add_column("value", justify="right")
    safe = is_safe(k)
    for name, value in kpi_rows(k):
        if name.startswith("collisions"):
            value = f"[green]{value}[/]" if safe else f"[bold red]{value}[/]"
        t.add_row(name, value)
    return t


def kpi_markdown(k: dict, command: str = "") -> str:
    lines = [f"# {title_of(k)}", ""]
    if command:
        lines += ["```bash", command, "```", ""]
    lines += ["| KPI | value |", "| --- | ---: |"]
    lines += [f"| {name} | {value} |" for name, value in kpi_rows(k)]
    b = k["border_crossings"]
    lines += ["", "Site goal: Youyiguan aims at +2,000 cross-border vehicles a day. Each container a carrier takes "
                  "across replaces one road-truck crossing, so the comparable figure is containers across per day "
                  f"({b['containers_per_day']:.0f}); carriers' own crossings ({b['per_day']:.0f} per day, loaded and "
                  "empty) are not vehicles of the goal.",
              "", "Keys and units of kpi.json: `yard_model/schemas/day_kpis.schema.json`.", ""]
    return "\n".join(lines)


def plot_day(log: KpiLog, k: dict, path: str | Path, charge_below_soc: float | None = None) -> Path:
    """Four panels: completed orders per hour, carrier tasks over time, lead times, state of charge."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    hours = max(log.t / 3600.0, 1e-9)
    samples = log.samples
    fig, ax = plt.subplots(2, 2, figsize=(13, 8), constrained_layout=True)
    fig.suptitle(title_of(k))

    a = ax[0, 0]
    n_bins = max(int(np.ceil(hours)), 1)
    done_h = [t / 3600.0 for t, _ in log.completions]
    a.hist(done_h, bins=n_bins, range=(0, n_bins), color="tab:green", edgecolor="white")
    a.set(xlabel="hour of simulated day", ylabel="orders completed", title="Completed orders per hour")

    a = ax[0, 1]
    ts = np.array([s.t / 3600.0 for s in samples])
    if len(ts):
        a.stackplot(ts, [s.busy for s in samples], [s.charging for s in samples],
                    [s.idle for s in samples], labels=["on an order", "to / at charger", "idle / parking"],
                    colors=["tab:blue", "tab:orange", "tab:gray"], step="post")
        a.plot(ts, [s.open_orders for s in samples], color="k", lw=1, label="open orders")
        g = a.twinx()  # the gate queue can be hundreds of trucks: its own scale
        g.plot(ts, [s.gate_queue for s in samples], color="tab:red", lw=1, ls="--")
        g.set_ylabel("trucks waiting at the gates (dashed)", color="tab:red")
        g.tick_params(axis="y", colors="tab:red")
        g.set_ylim(bottom=0)
    a.set(xlabel="hour", ylabel="carriers / open orders", title="Carriers by task, open orders, gate queue")
    a.legend(loc="upper left", fontsize=8)

    a = ax[1, 0]
    if log.lead_times_s:
        lead_min = np.array(log.lead_times_s) / 60.0
        a.hist(lead_min, bins=min(30, max(5, len(lead_min) // 5)), color="tab:purple", edgecolor="white")
        a.axvline(float(np.percentile(lead_min, 95)), color="k", ls="--", lw=1, label="p95")
        a.legend()
    a.set(xlabel="minutes (accepted -> completed)", ylabel="orders", title="Order lead time")

    a = ax[1, 1]
    if len(ts):
        a.plot(ts, [s.soc_mean for s in samples], label="mean")
        a.plot(ts, [s.soc_min for s in samples], label="lowest")
        if charge_below_soc is not None:
            a.axhline(charge_below_soc, color="tab:orange", ls=":", lw=1, label="charge below")
    a.set(xlabel="hour", ylabel="state of charge", ylim=(0, 1), title="Batteries")
    a.legend(loc="lower left", fontsize=8)

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def write_report(log: KpiLog, out_dir: str | Path, command: str = "", *, kpis: dict | None = None,
                 charge_below_soc: float | None = None, plot: bool = True) -> dict:
    """Write kpi.json (validated against its schema), kpi.md and day.png; returns the KPI document.

    ``kpis``: the document to write (default ``log.kpis()``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    k = log.kpis() if kpis is None else kpis
    validate("day_kpis", k)
    (out / "kpi.json").write_text(json.dumps(k, indent=2) + "\n", encoding="utf-8")
    (out / "kpi.md").write_text(kpi_markdown(k, command), encoding="utf-8")
    if plot:
        plot_day(log, k, out / "day.png", charge_below_soc)
    return k
