"""ament_python setup for yard_autonomy.

The same file serves `pip install .` (PyPI ROS 2 wheels, extra `ros`), `pip install -e .`
and `colcon build` on a full ROS 2 install. Share files (launch, config, worlds) go to
share/yard_autonomy as data_files; an editable install finds them in the source tree
instead (see yard_model/resources.py).
"""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "yard_autonomy"
HERE = Path(__file__).parent
ROS_DISTRO_PIN = "5.3.6"

# ROS executables: `ros2 run yard_autonomy <name>` and launch files use these names.
NODES = {
    "yard_sim": "yard_sim.sim_node:main",
    "localization": "agv_nav.localization_node:main",
    "yard_recorder": "yard_ros.recorder:main",
    "crane_controller": "crane_control.crane_controller_node:main",
    "path_follower": "agv_nav.path_follower_node:main",
    "fleet_manager": "fleet_manager.fleet_manager_node:main",
    "yard_traffic": "yard_sim.traffic_node:main",
    "yard_kpis": "yard_bringup.kpi_collector:main",
    "border_gateway": "cross_border.gateway_node:main",
    "customs_sim": "yard_sim.customs_node:main",
}


def share_files(folder: str, patterns: tuple[str, ...]) -> list[tuple[str, list[str]]]:
    """data_files entries that mirror a source folder into share/yard_autonomy/<folder>."""
    out: dict[str, list[str]] = {}
    for pattern in patterns:
        for f in sorted((HERE / folder).rglob(pattern)):
            rel = f.relative_to(HERE)
            out.setdefault(f"share/{PACKAGE}/{rel.parent.as_posix()}", []).append(rel.as_posix())
    return sorted(out.items())


ros_msgs = [
    f"ros-jazzy-{name}=={ROS_DISTRO_PIN}"
    for name in (
        "std-msgs", "geometry-msgs", "nav-msgs", "sensor-msgs", "diagnostic-msgs",
        "visualization-msgs", "trajectory-msgs", "std-srvs",
    )
]

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(
        include=["yard_model*", "yard_sim*", "yard_ros*", "yard_bringup*", "agv_nav*", "crane_control*",
                 "fleet_manager*", "yard_harness*", "cross_border*"],
    ),
    package_data={"": ["schemas/*.json"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        *share_files("launch", ("*.py",)),
        *share_files("config", ("*.yaml",)),
        *share_files("sim_worlds", ("*.yaml", "*.sdf")),
    ],
    python_requires=">=3.10",
    install_requires=[
        "setuptools",
        "numpy>=1.24",
        "scipy>=1.10",
        "shapely>=2.0",
        "pyproj>=3.4",
        "transforms3d>=0.4",
        "networkx>=3.0",
        "pyyaml>=6.0",
        "jsonschema>=4.0",
        "jsonschema-rs>=0.20",  # fast path for valid documents (yard_model.documents); jsonschema explains errors
        "ruckig>=0.12",
        "mcap>=1.1",
        "mcap-ros2-support>=0.5",
        "rich>=13.0",
        "matplotlib>=3.6",
        "eclipse-zenoh>=1.0",  # cross_border: the link between the two sites' gateways
        "cryptography>=42",  # cross_border: Ed25519 signatures on every exchanged document
    ],
    extras_require={
        # ROS 2 Jazzy from PyPI, for machines without an apt-installed ROS 2.
        "ros": [
            "ros-jazzy-rclpy[fastrtps]==7.1.6",
            "ros-jazzy-ament-index-python",
            "ros-jazzy-rosgraph-msgs",
            *ros_msgs,
        ],
        "test": ["pytest>=7", "pytest-timeout>=2", "pytest-xdist>=3", "hypothesis>=6", "ruff>=0.5"],
    },
    zip_safe=True,
    maintainer="yard_autonomy maintainers",
    maintainer_email="maintainers@yard-autonomy.invalid",
    description="Automated container yard on ROS 2: carriers, cranes, fleet manager, simulator.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "yard-autonomy = yard_bringup.cli:main",
            *(f"{name} = {target}" for name, target in NODES.items()),
        ],
    },
)
