"""Start one carrier's nodes on its vehicle computer (no simulator), under ros2 launch.

    ros2 launch yard_autonomy carrier.launch.py carrier_id:=carrier_01 world:=youyiguan

The carrier-scoped processes of yard_bringup.graph (localization, path following,
as they are installed) in the namespace /<carrier_id>. Arguments: carrier_id, world,
use_sim_time, params_file (`ros2 launch ... --show-args`).
"""

from yard_bringup.ros_launch import carrier_launch_description


def generate_launch_description():
    return carrier_launch_description()
