"""The one description of the node graph, shared by `yard-autonomy sim` and `ros2 launch`.

``build_graph`` returns a list of :class:`NodeSpec`, one per operating-system
process: what to run (a ROS executable for ``ros2 launch``, a module for
``python -m``), its node name and namespace, its parameter files from
``config/``, parameter overrides and remappings. ``yard_bringup.supervisor``
turns each spec into a command line, ``yard_bringup.ros_launch`` into a
``launch_ros.actions.Node``; neither adds anything of its own, so the two
cannot drift apart.

Subsystems
----------
Every kind of process is a :class:`Subsystem` registered in ``SUBSYSTEMS``
with a *scope* saying how many instances the graph gets:

* ``yard``: one process (the simulator, the fleet manager);
* ``carrier``: one per carrier, in the namespace ``/carrier_NN``;
* ``crane``: one per crane of the world, in the namespace ``/<crane id>``.

A subsystem is part of the graph when its module is importable (``required``
ones must be: the simulator), so a package joins the bringup by adding its
ROS executable to ``NODES`` in setup.py, its parameter file to ``config/`` and
one ``register(...)`` call below its marker at the end of this file, e.g.::

    register(Subsystem(
        key="localization", scope="carrier",
        executable="localization", module="agv_nav.localization_node",
        config=("localization.yaml",),
        description="GNSS/RTK + odometry + IMU fusion for one carrier",
    ))

Several nodes of one carrier may share a process: give the subsystem
``hosts=("localization", "path_follower")`` (the names of the nodes its
``main`` creates); the process is then labelled by ``key`` and its nodes keep
their own names. Extra parameters computed from the graph (the world file,
the vehicle id, the list of carriers) come from a ``parameters`` function
``(GraphContext, instance id) -> dict``.

Carrier ids are ``carrier_01`` ... (``carrier_ids``); where each carrier
starts is the simulator's choice (it parks them on the world's spots).
No rclpy import here.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from yard_model import World, load_world
from yard_model.resources import world_path

SCOPES = ("yard", "carrier", "crane")
MAX_CARRIERS = 99
VEHICLE_ID = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class NodeSpec:
    """One process of the graph, independent of how it is started.

    ``params_files`` are names in the package's ``config/`` folder; they are
    applied in order, then ``parameters`` (overrides), so later values win as
    they do in ``ros2 launch``. ``hosts`` lists the node names when the process
    creates several nodes (then no ``__node`` remapping is applied).
    """

    name: str  # node name (or the process label when it hosts several nodes)
    executable: str  # ROS executable: lib/yard_autonomy/<executable> (ros2 launch / ros2 run)
    module: str  # Python module with main(): `python -m <module>`
    namespace: str = ""  # "" = root namespace, else "/carrier_01", "/cn_crane_1"
    params_files: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()
    respawn: bool = False
    hosts: tuple[str, ...] = ()
    subsystem: str = ""  # key of the Subsystem that made it
    scope: str = "yard"
    description: str = ""

    @property
    def label(self) -> str:
        """Unique, file-name friendly process label: ``yard_sim``, ``carrier_01/localization``."""
        return f"{self.namespace.strip('/')}/{self.name}" if self.namespace.strip("/") else self.name

    @property
    def group(self) -> str:
        """The carrier or crane the process belongs to ("" for the yard's own processes)."""
        return self.namespace.strip("/") if self.scope in ("carrier", "crane") else ""

    @property
    def essential(self) -> bool:
        """The yard cannot run without it (simulator, fleet manager); a carrier's or crane's node it can."""
        return self.scope == "yard"

    @property
    def node_names(self) -> tuple[str, ...]:
        """Fully qualified names of the ROS nodes this process creates."""
        ns = self.namespace.rstrip("/")
        return tuple(f"{ns}/{n}" for n in (self.hosts or (self.name,)))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["label"] = self.label
        d["node_names"] = list(self.node_names)
        d["params_files"] = list(self.params_files)
        d["remappings"] = [list(r) for r in self.remappings]
        d["hosts"] = list(self.hosts)
        return d


@dataclass(frozen=True)
class GraphContext:
    """What a subsystem may need to build its specs."""

    world_name: str
    world_file: Path  # absolute
    carrier_ids: tuple[str, ...]
    crane_ids: tuple[str, ...]
    real_time_factor: float
    seed: int
    use_sim_time: bool
    run_dir: Path | None = None  # the run's folder (logs, the fleet manager's database); None: not known
    containers_per_day: float | None = None  # demand of the port day (None = no demand node)
    customs: bool = False  # simulated customs on both sides, and the fleet manager gating orders on clearance
    pre_clearance: bool = False  # with customs: the demand node files each manifest at the gate, not with the order


@dataclass(frozen=True)
class Subsystem:
    """A kind of process of the graph; see the module docstring."""

    key: str
    scope: str  # "yard" | "carrier" | "crane"
    executable: str
    module: str
    config: tuple[str, ...] = ()
    node_name: str = ""  # default: key
    hosts: tuple[str, ...] = ()
    parameters: Callable[[GraphContext, str | None], dict[str, Any]] | None = None
    remappings: tuple[tuple[str, str], ...] = ()
    respawn: bool = False
    required: bool = False  # the graph cannot run without it: error if the module is missing
    clock_source: bool = False  # publishes /clock itself: gets no use_sim_time override
    description: str = ""
    enabled: Callable[[GraphContext], bool] | None = None  # takes part only when this says so (default: always)

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"subsystem {self.key}: scope '{self.scope}' is not one of {', '.join(SCOPES)}")

    def instances(self, ctx: GraphContext) -> list[str | None]:
        if self.scope == "carrier":
            return list(ctx.carrier_ids)
        if self.scope == "crane":
            return list(ctx.crane_ids)
        return [None]

    def spec(self, ctx: GraphContext, instance: str | None) -> NodeSpec:
        params: dict[str, Any] = {}
        if not self.clock_source:
            params["use_sim_time"] = ctx.use_sim_time
        if self.parameters is not None:
            params.update(self.parameters(ctx, instance))
        return NodeSpec(
            name=self.node_name or self.key,
            executable=self.executable,
            module=self.module,
            namespace=f"/{instance}" if instance else "",
            params_files=self.config,
            parameters=params,
            remappings=self.remappings,
            respawn=self.respawn,
            hosts=self.hosts,
            subsystem=self.key,
            scope=self.scope,
            description=self.description,
        )


SUBSYSTEMS: dict[str, Subsystem] = {}


def register(sub: Subsystem) -> Subsystem:
    """Add a subsystem to the graph (keys are unique)."""
    if sub.key in SUBSYSTEMS:
        raise ValueError(f"subsystem '{sub.key}' is registered twice")
    SUBSYSTEMS[sub.key] = sub
    return sub


def module_available(module: str) -> bool:
    """True if ``module`` can be imported here (checked without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package
        return False


def carrier_ids(count: int) -> tuple[str, ...]:
    """``carrier_01`` ... ``carrier_NN``, the vehicle ids and namespaces of the carriers."""
    if not 0 <= count <= MAX_CARRIERS:
        raise ValueError(f"number of carriers must be in 0..{MAX_CARRIERS}, got {count}")
    return tuple(f"carrier_{i:02d}" for i in range(1, count + 1))


def graph_context(world: World | str | os.PathLike, carriers: int | Iterable[str], rtf: float = 1.0, seed: int = 0,
                  use_sim_time: bool = True, run_dir: str | os.PathLike | None = None,
                  containers_per_day: float | None = None, customs: bool = False,
                  pre_clearance: bool = False) -> GraphContext:
    """Resolve the world (name, path or loaded World) and check the run settings.

    ``carriers`` is a count (ids ``carrier_01``...) or explicit vehicle ids
    (a vehicle computer runs its own carrier only). A count must fit the world's parking and charging
    spots, where the simulator starts them. ``run_dir``: the run's folder, where the fleet manager keeps
    its database. ``containers_per_day``: the demand of a port day in each direction (trucks and
    orders; None = none). ``customs``: both sides' simulated customs (``customs_sim``) decide on every
    order's container and the fleet manager waits for their release (``clearance_required``).
    ``pre_clearance`` (needs ``customs``): the demand node files each container's manifest when its
    truck reaches the gate, and the customs simulator no longer takes one from each order.
    """
    if isinstance(world, World):
        loaded, path = world, Path(world.source).resolve()
    else:
        path = world_path(world)
        loaded = load_world(path)
    if not (rtf >= 0.0 and rtf != float("inf")):
        raise ValueError(f"real-time factor must be >= 0 (0 = as fast as possible), got {rtf}")
    if containers_per_day is not None and not (containers_per_day >= 0.0 and containers_per_day != float("inf")):
        raise ValueError(f"containers per day must be a finite number >= 0, got {containers_per_day}")
    if pre_clearance and not customs:
        raise ValueError("pre-clearance needs the simulated customs (there is nobody to file the manifest with)")
    if isinstance(carriers, int):
        ids = carrier_ids(carriers)
        spots = len(loaded.parking_spots()) + len(loaded.charging_spots())
        if not 1 <= carriers <= spots:  # the simulator parks each carrier on a spot of its own
            raise ValueError(f"number of carriers must be in 1..{spots} (parking + charging spots of "
                             f"{loaded.name}), got {carriers}")
    else:
        ids = tuple(carriers)
        bad = [c for c in ids if not VEHICLE_ID.fullmatch(c)]
        if bad:
            raise ValueError(f"vehicle ids must be ROS name tokens like carrier_01, got {', '.join(map(repr, bad))}")
        if len(set(ids)) != len(ids):
            raise ValueError(f"vehicle ids must be unique, got {', '.join(ids)}")
    return GraphContext(
        world_name=loaded.name,
        world_file=path,
        carrier_ids=ids,
        crane_ids=tuple(loaded.cranes),
        real_time_factor=float(rtf),
        seed=int(seed),
        use_sim_time=use_sim_time,
        run_dir=None if run_dir is None else Path(run_dir).resolve(),
        containers_per_day=None if containers_per_day is None else float(containers_per_day),
        customs=bool(customs),
        pre_clearance=bool(pre_clearance),
    )


def active_subsystems(available: Callable[[str], bool] = module_available,
                      subsystems: Iterable[Subsystem] | None = None) -> list[Subsystem]:
    """Registered subsystems whose module is importable; raises if a required one is missing."""
    out = []
    for sub in SUBSYSTEMS.values() if subsystems is None else subsystems:
        if available(sub.module):
            out.append(sub)
        elif sub.required:
            raise RuntimeError(f"subsystem '{sub.key}' needs module {sub.module}, which is not importable here")
    return out


def build_graph(world: World | str | os.PathLike, carriers: int | Iterable[str], rtf: float = 1.0, seed: int = 0,
                use_sim_time: bool = True, *, scopes: Iterable[str] = SCOPES,
                available: Callable[[str], bool] = module_available,
                subsystems: Iterable[Subsystem] | None = None,
                run_dir: str | os.PathLike | None = None,
                containers_per_day: float | None = None, customs: bool = False,
                pre_clearance: bool = False) -> list[NodeSpec]:
    """The processes of a simulated yard: simulator, then yard-, carrier- and crane-scoped nodes.

    ``carriers``: a count or explicit vehicle ids (see :func:`graph_context`).
    ``scopes`` limits which kinds of subsystem take part: a vehicle computer
    runs ``scopes=("carrier",)`` with its own id. ``available`` decides which
    optional subsystems are installed; ``subsystems`` replaces the registry
    (tests). ``containers_per_day`` adds the demand node (a port day's trucks
    and orders), ``customs`` the simulated customs (see :func:`graph_context`).
    Order: by scope (yard, carrier, crane), then by instance, then by
    registration.
    """
    ctx = graph_context(world, carriers, rtf, seed, use_sim_time, run_dir, containers_per_day, customs, pre_clearance)
    scopes = tuple(scopes)
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; scopes are {', '.join(SCOPES)}")
    pool = [s for s in (SUBSYSTEMS.values() if subsystems is None else subsystems) if s.scope in scopes]
    pool = [s for s in pool if s.enabled is None or s.enabled(ctx)]
    subs = active_subsystems(available, pool)
    specs: list[NodeSpec] = []
    for scope in SCOPES:
        scoped = [s for s in subs if s.scope == scope]
        if not scoped:
            continue
        for inst in scoped[0].instances(ctx):
            specs.extend(s.spec(ctx, inst) for s in scoped)
    labels = [s.label for s in specs]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise ValueError(f"two processes share a name: {', '.join(dupes)}")
    return specs


def viability(world: World, specs: Iterable[NodeSpec]) -> Callable[[set[str]], str | None]:
    """What the supervisor asks when a carrier or crane is lost for good: can the yard go on without the lost
    groups? Not without a single carrier, nor with a station none of whose cranes reaches a carrier bay."""
    carriers = {s.group for s in specs if s.scope == "carrier"}
    cranes = {s.group for s in specs if s.scope == "crane"}
    serving = {sid: {k for k, c in world.cranes.items() if k in cranes and set(c.serves) & set(st.carrier_bays)}
               for sid, st in world.stations.items()}

    def why_not(lost: set[str]) -> str | None:
        if carriers and carriers <= lost:
            return "no carrier left"
        for sid, ks in sorted(serving.items()):
            if ks and ks <= lost:
                return f"no crane left at station {sid}"
        return None

    return why_not


# ---------------------------------------------------------------------------
# Registered subsystems: one block per package, each owned by that package.
# ---------------------------------------------------------------------------

# --- subsystem: simulator (owner: yard_sim) ---
def _simulator_parameters(ctx: GraphContext, _instance: str | None) -> dict[str, Any]:
    # carriers as well as carrier_ids: an empty carrier_ids means "use the count" to the simulator.
    return {
        "world": str(ctx.world_file),
        "carriers": len(ctx.carrier_ids),
        "carrier_ids": ",".join(ctx.carrier_ids),
        "real_time_factor": ctx.real_time_factor,
        "seed": ctx.seed,
    }


register(Subsystem(
    key="yard_sim", scope="yard", executable="yard_sim", module="yard_sim.sim_node",
    config=("yard_sim.yaml",), parameters=_simulator_parameters, required=True, clock_source=True,
    description="built-in headless simulator: carriers, sensors, cranes, containers, trucks, /clock",
))

# --- subsystem: fleet_manager (owner: fleet_manager) ---
def _fleet_manager_parameters(ctx: GraphContext, _instance: str | None) -> dict[str, Any]:
    # One database per bringup run (stable across respawns of the node, never a stale one of an earlier run):
    # in the run's folder (`sim --log-dir`), or else in the temporary folder.
    import tempfile

    folder = ctx.run_dir if ctx.run_dir is not None else Path(tempfile.gettempdir())
    name = "fleet_manager.sqlite" if ctx.run_dir is not None else \
        f"yard_autonomy_fleet_{ctx.world_name}_{os.getpid()}.sqlite"
    db = folder / name
    return {"world": str(ctx.world_file), "carrier_ids": list(ctx.carrier_ids), "db_path": str(db),
            "clearance_required": ctx.customs}


register(Subsystem(
    key="fleet_manager", scope="yard", executable="fleet_manager", module="fleet_manager.fleet_manager_node",
    config=("fleet_manager.yaml",), parameters=_fleet_manager_parameters, respawn=True,
    description="transport orders, carrier allocation, routes, traffic reservations and movement authorities",
))

# --- subsystem: traffic (owner: yard_sim; only with a demand: `sim --containers-per-day`) ---
def _traffic_parameters(ctx: GraphContext, _instance: str | None) -> dict[str, Any]:
    return {"world": str(ctx.world_file), "containers_per_day": ctx.containers_per_day or 0.0, "seed": ctx.seed,
            "pre_clearance": ctx.pre_clearance}


register(Subsystem(
    key="traffic", scope="yard", executable="yard_traffic", module="yard_sim.traffic_node",
    config=("traffic.yaml",), parameters=_traffic_parameters, enabled=lambda ctx: ctx.containers_per_day is not None,
    description="the outside world of a port day: trucks at the gates (sim commands) and transport orders",
))

# --- subsystem: customs_sim (owner: yard_sim; only with `sim --customs`) ---
def _customs_parameters(ctx: GraphContext, _instance: str | None) -> dict[str, Any]:
    return {"world": str(ctx.world_file), "seed": ctx.seed, "manifests_from_orders": not ctx.pre_clearance}


register(Subsystem(
    key="customs_sim", scope="yard", executable="customs_sim", module="yard_sim.customs_node",
    config=("customs_sim.yaml",), parameters=_customs_parameters, enabled=lambda ctx: ctx.customs, respawn=True,
    description="both sides' customs, simulated: a decision on every order's container (the fleet manager "
                "waits for both releases)",
))


# --- subsystem: localization (owner: agv_nav localization) ---
def _localization_parameters(ctx: GraphContext, instance: str | None) -> dict[str, Any]:
    return {"world": str(ctx.world_file), "vehicle_id": instance or ""}


register(Subsystem(
    key="localization", scope="carrier", executable="localization", module="agv_nav.localization_node",
    config=("localization.yaml",), parameters=_localization_parameters, respawn=True,
    description="GNSS/RTK + wheel odometry + gyro fusion for one carrier: localization/odometry in map",
))

# --- subsystem: path_follower (owner: agv_nav path following) ---
def _path_follower_parameters(ctx: GraphContext, instance: str | None) -> dict[str, Any]:
    return {"world": str(ctx.world_file), "vehicle_id": instance or ""}


# Until the localization node (issue #3) is part of the graph, the follower drives on the simulator's
# ground truth; as soon as agv_nav.localization_node is importable it uses localization/odometry.
_FOLLOWER_POSE_REMAP = () if module_available("agv_nav.localization_node") else (
    ("localization/odometry", "ground_truth/odometry"),)

register(Subsystem(
    key="path_follower", scope="carrier", executable="path_follower", module="agv_nav.path_follower_node",
    config=("path_follower.yaml",), parameters=_path_follower_parameters, remappings=_FOLLOWER_POSE_REMAP,
    respawn=True, description="path following and precise docking for one carrier (cmd_vel, follower/status)",
))

# --- subsystem: crane_controller (owner: crane_control) ---
def _crane_controller_parameters(ctx: GraphContext, instance: str | None) -> dict[str, Any]:
    return {"world": str(ctx.world_file), "crane_id": instance}


register(Subsystem(
    key="crane_controller", scope="crane", executable="crane_controller",
    module="crane_control.crane_controller_node", config=("crane_controller.yaml",),
    parameters=_crane_controller_parameters, respawn=True,
    description="lift jobs of one crane: ruckig motion, interlocks, job queue, shared-rail claims",
))

# --- optional process: MCAP recorder (owner: bringup; `sim --record`, launch argument record) ---
def recorder_spec(output: str | os.PathLike, use_sim_time: bool = True) -> NodeSpec:
    """The MCAP recorder (``yard_ros.recorder``) writing every topic to ``output``: not a subsystem,
    since it joins the graph only when asked (``yard-autonomy sim --record``, ``record:=`` in launch).
    Log times are ROS time, so under ``use_sim_time`` the file plays back on the simulated clock."""
    out = Path(output).expanduser()
    if out.suffix != ".mcap":
        raise ValueError(f"recording file must end in .mcap, got {output}")
    return NodeSpec(
        name="recorder", executable="yard_recorder", module="yard_ros.recorder",
        parameters={"use_sim_time": use_sim_time, "output": str(out.resolve())},
        subsystem="recorder", scope="yard",
        description="records every topic to MCAP (Foxglove, rosbag2 tools)",
    )


# --- optional process: KPI collector (owner: bringup; `sim --out`, launch argument kpi_out) ---
def kpi_collector_spec(output_dir: str | os.PathLike, ctx: GraphContext, duration_s: float | None = None,
                       command: str = "") -> NodeSpec:
    """The KPI collector (``yard_bringup.kpi_collector``) writing kpi.json, kpi.md and day.png to
    ``output_dir`` after ``duration_s`` of simulation time (None = when stopped): not a subsystem,
    since it joins the graph only when asked (``yard-autonomy sim --out``, ``kpi_out:=`` in launch)."""
    if duration_s is not None and not (duration_s > 0.0 and duration_s != float("inf")):
        raise ValueError(f"the KPI duration must be a positive number of seconds, got {duration_s}")
    params: dict[str, Any] = {
        "use_sim_time": ctx.use_sim_time, "world": str(ctx.world_file), "carrier_ids": list(ctx.carrier_ids),
        "output_dir": str(Path(output_dir).expanduser().resolve()), "duration_s": float(duration_s or 0.0),
        "command": command}
    if ctx.containers_per_day is not None:
        params.update(seed=ctx.seed, containers_per_day=ctx.containers_per_day)
    return NodeSpec(
        name="kpi_collector", executable="yard_kpis", module="yard_bringup.kpi_collector",
        parameters=params, subsystem="kpi_collector", scope="yard",
        description="measures the port day (orders, lead times, crossings, safety) and writes kpi.json",
    )


def with_kpi_collector(specs: list[NodeSpec], output_dir: str | os.PathLike, ctx: GraphContext,
                       duration_s: float | None = None, command: str = "") -> list[NodeSpec]:
    """``specs`` plus the KPI collector; the demand node then waits for it before the day starts,
    so no truck, order or event of the day happens before the collector listens."""
    out = [replace(s, parameters={**s.parameters, "wait_for_observers": 1}) if s.subsystem == "traffic" else s
           for s in specs]
    return [*out, kpi_collector_spec(output_dir, ctx, duration_s, command)]
