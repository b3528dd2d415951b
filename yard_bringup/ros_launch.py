"""Turn the graph description into ``launch_ros`` actions for ``ros2 launch``.

``launch/yard_sim.launch.py`` and ``launch/carrier.launch.py`` call these
functions; each :class:`~yard_bringup.graph.NodeSpec` becomes exactly one
``launch_ros.actions.Node`` with the same executable, node name, namespace,
parameter files (from the share dir), overrides, remappings and respawn flag
that ``yard-autonomy sim`` passes on its command lines. ``launch`` and
``launch_ros`` are imported inside the functions: they exist only on a full
ROS 2 install, and this module must import without them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from yard_model.resources import DEFAULT_WORLD, PACKAGE, config_path

from .graph import NodeSpec, build_graph, graph_context, recorder_spec, with_kpi_collector

TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")

# name -> (default, description); shared by both launch files where they overlap.
SIM_ARGUMENTS: dict[str, tuple[str, str]] = {
    "world": (DEFAULT_WORLD, "world to simulate: a shipped world's name (youyiguan, small_yard) or a world file path"),
    "carriers": ("3", "number of carriers, ids carrier_01..carrier_NN"),
    "rtf": ("1.0", "real-time factor: 1 = real time, 0 = as fast as possible"),
    "seed": ("0", "random seed of the simulator"),
    "use_sim_time": ("true", "nodes follow /clock from the simulator"),
    "params_file": ("", "extra ROS parameter file applied after the shipped ones (empty = none)"),
    "record": ("", "MCAP file to record every topic to with yard_recorder (empty = no recording)"),
    "containers_per_day": ("", "run a port day: containers a day in each direction the demand node (yard_traffic) "
                               "brings, trucks and orders seeded by seed (empty = no demand)"),
    "customs": ("false", "simulate both sides' customs (customs_sim) and gate every order on their release "
                         "(the fleet manager's clearance_required)"),
    "pre_clearance": ("false", "with customs: the demand node files each container's manifest when its truck reaches "
                               "the gate, not with the transport order at the bay"),
    "kpi_out": ("", "folder the KPI collector (yard_kpis) writes kpi.json, kpi.md and day.png to (empty = none)"),
    "kpi_duration": ("0", "simulated seconds after which the KPI collector writes its report (0 = on shutdown)"),
}

CARRIER_ARGUMENTS: dict[str, tuple[str, str]] = {
    "carrier_id": ("carrier_01", "this vehicle's id; also its namespace (/carrier_01)"),
    "world": (DEFAULT_WORLD, "world the vehicle operates in: a shipped world's name or a world file path"),
    "use_sim_time": ("false", "true when the vehicle's nodes run against the simulator's /clock"),
    "params_file": ("", "extra ROS parameter file applied after the shipped ones (empty = none)"),
}


BORDER_ARGUMENTS: dict[str, tuple[str, str]] = {
    "side": ("CN", "this gateway's side (ISO 3166-1 alpha-2)"),
    "peer_side": ("VN", "the other side"),
    "keys_dir": ("", "folder with <side>.key and <peer_side>.pub (lower case, as `yard-autonomy border-keys` "
                     "writes them); ignored for a key file given below"),
    "private_key_file": ("", "this side's Ed25519 private key (PEM); empty = <keys_dir>/<side>.key"),
    "peer_public_key_file": ("", "the other side's Ed25519 public key (PEM); empty = <keys_dir>/<peer_side>.pub"),
    "zenoh_mode": ("peer", "peer (direct to the other gateway) or client (through a zenohd router)"),
    "zenoh_listen": ("", "comma-separated Zenoh endpoints to listen on (empty = the config file's loopback one)"),
    "zenoh_connect": ("", "comma-separated Zenoh endpoints to connect to: the other gateway or the router"),
    "db_path": ("", "SQLite file of the outbox (empty = ~/.ros/yard_autonomy/border_<side>.sqlite)"),
    "use_sim_time": ("false", "event stamps follow /clock (the link itself always runs on wall-clock time)"),
    "params_file": ("", "extra ROS parameter file applied after the shipped one (empty = none)"),
}


def parse_bool(name: str, text: str) -> bool:
    t = text.strip().lower()
    if t in TRUE_WORDS:
        return True
    if t in FALSE_WORDS:
        return False
    raise ValueError(f"launch argument {name}:={text} is not a boolean (true/false)")


def parse_number(name: str, text: str, kind: type):
    try:
        return kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ValueError(f"launch argument {name}:={text} is not {what}") from None


def declare_arguments(arguments: dict[str, tuple[str, str]]) -> list:
    from launch.actions import DeclareLaunchArgument

    return [DeclareLaunchArgument(name, default_value=default, description=desc)
            for name, (default, desc) in arguments.items()]


def node_action(spec: NodeSpec, extra_params_files: Iterable[str | os.PathLike] = (),
                resolve_config: Callable[[str], Path] | None = None, output: str = "screen"):
    """One ``launch_ros.actions.Node`` for one spec, with the supervisor's parameter order."""
    from launch_ros.actions import Node

    resolve = resolve_config or config_path
    parameters: list = [str(resolve(name)) for name in spec.params_files]
    if spec.parameters:
        parameters.append({k: (os.fspath(v) if isinstance(v, os.PathLike) else v) for k, v in spec.parameters.items()})
    parameters += [str(Path(f).resolve()) for f in extra_params_files]
    return Node(
        package=PACKAGE,
        executable=spec.executable,
        name=None if spec.hosts else spec.name,
        namespace=spec.namespace or None,
        parameters=parameters,
        remappings=list(spec.remappings),
        respawn=spec.respawn,
        output=output,
    )


def _values(context, arguments: dict[str, tuple[str, str]]) -> dict[str, str]:
    from launch.substitutions import LaunchConfiguration

    return {name: LaunchConfiguration(name).perform(context) for name in arguments}


def _extra_files(value: str) -> list[str]:
    return [value] if value.strip() else []


def simulation_nodes(context) -> list:
    """OpaqueFunction body of yard_sim.launch.py: the whole graph as Node actions."""
    v = _values(context, SIM_ARGUMENTS)
    demand = parse_number("containers_per_day", v["containers_per_day"], float) \
        if v["containers_per_day"].strip() else None
    args = (v["world"], parse_number("carriers", v["carriers"], int), parse_number("rtf", v["rtf"], float),
            parse_number("seed", v["seed"], int), parse_bool("use_sim_time", v["use_sim_time"]))
    customs = parse_bool("customs", v["customs"])
    pre = parse_bool("pre_clearance", v["pre_clearance"])
    specs = build_graph(*args, containers_per_day=demand, customs=customs, pre_clearance=pre)
    if v["record"].strip():
        specs.append(recorder_spec(v["record"].strip(), parse_bool("use_sim_time", v["use_sim_time"])))
    if v["kpi_out"].strip():
        duration = parse_number("kpi_duration", v["kpi_duration"], float)
        ctx = graph_context(*args, containers_per_day=demand, customs=customs, pre_clearance=pre)
        specs = with_kpi_collector(specs, v["kpi_out"].strip(), ctx,
                                   duration if duration > 0 else None, "ros2 launch yard_autonomy yard_sim.launch.py")
    return [node_action(s, _extra_files(v["params_file"])) for s in specs]


def carrier_nodes(context) -> list:
    """OpaqueFunction body of carrier.launch.py: one carrier's nodes, no simulator."""
    from launch.actions import LogInfo

    v = _values(context, CARRIER_ARGUMENTS)
    specs = build_graph(v["world"], [v["carrier_id"]], use_sim_time=parse_bool("use_sim_time", v["use_sim_time"]),
                        scopes=("carrier",))
    if not specs:
        return [LogInfo(msg=f"yard_autonomy: no carrier subsystem is installed here; nothing to start for "
                            f"{v['carrier_id']}")]
    return [node_action(s, _extra_files(v["params_file"])) for s in specs]


def border_parameters(v: dict[str, str]) -> dict:
    """The per-side parameter overrides of one border gateway from launch argument values."""
    side, peer = v["side"].strip().upper(), v["peer_side"].strip().upper()
    keys = Path(v["keys_dir"].strip()) if v["keys_dir"].strip() else None
    out: dict = {"side": side, "peer_side": peer, "zenoh_mode": v["zenoh_mode"].strip(),
                 "use_sim_time": parse_bool("use_sim_time", v["use_sim_time"]),
                 "db_path": v["db_path"].strip() or f"~/.ros/yard_autonomy/border_{side.lower()}.sqlite"}
    for name, default in (("private_key_file", f"{side.lower()}.key"), ("peer_public_key_file", f"{peer.lower()}.pub")):
        given = v[name].strip()
        if given or keys is not None:
            out[name] = given or str(keys / default)
    for name in ("zenoh_listen", "zenoh_connect"):
        endpoints = [e.strip() for e in v[name].split(",") if e.strip()]
        if endpoints:
            out[name] = endpoints
    return out


def border_nodes(context) -> list:
    """OpaqueFunction body of border_gateway.launch.py: one side's gateway."""
    from launch_ros.actions import Node

    v = _values(context, BORDER_ARGUMENTS)
    return [Node(package=PACKAGE, executable="border_gateway", name="border_gateway", namespace=None,
                 parameters=[str(config_path("cross_border")), border_parameters(v), *_extra_files(v["params_file"])],
                 remappings=[], respawn=True, output="screen")]


def border_launch_description():
    from launch import LaunchDescription
    from launch.actions import OpaqueFunction

    return LaunchDescription([*declare_arguments(BORDER_ARGUMENTS), OpaqueFunction(function=border_nodes)])


def simulation_launch_description():
    from launch import LaunchDescription
    from launch.actions import OpaqueFunction

    return LaunchDescription([*declare_arguments(SIM_ARGUMENTS), OpaqueFunction(function=simulation_nodes)])


def carrier_launch_description():
    from launch import LaunchDescription
    from launch.actions import OpaqueFunction

    return LaunchDescription([*declare_arguments(CARRIER_ARGUMENTS), OpaqueFunction(function=carrier_nodes)])
