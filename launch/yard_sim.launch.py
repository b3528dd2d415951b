"""Start the simulated yard under ros2 launch (full ROS 2 install).

    ros2 launch yard_autonomy yard_sim.launch.py world:=youyiguan carriers:=3 rtf:=1.0
    ros2 launch yard_autonomy yard_sim.launch.py record:=/tmp/yard.mcap   # also record every topic
    ros2 launch yard_autonomy yard_sim.launch.py world:=small_yard carriers:=2 containers_per_day:=1000 \
        kpi_out:=/tmp/day kpi_duration:=3600   # a port day through every node, measured

The processes come from yard_bringup.graph.build_graph, the same description
`yard-autonomy sim` starts, converted by yard_bringup.ros_launch. Arguments:
world, carriers, rtf, seed, use_sim_time, params_file, record, containers_per_day, customs,
pre_clearance, kpi_out, kpi_duration (`ros2 launch ... --show-args`).
"""

from yard_bringup.ros_launch import simulation_launch_description


def generate_launch_description():
    return simulation_launch_description()
