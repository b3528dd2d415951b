"""Start one side's border gateway (cross_border) under ros2 launch, in that side's ROS domain.

    ROS_DOMAIN_ID=11 ros2 launch yard_autonomy border_gateway.launch.py side:=CN peer_side:=VN keys_dir:=keys
    ROS_DOMAIN_ID=12 ros2 launch yard_autonomy border_gateway.launch.py side:=VN peer_side:=CN keys_dir:=keys \
        zenoh_listen:=tcp/127.0.0.1:7451 zenoh_connect:=tcp/127.0.0.1:7450

Parameters from config/cross_border.yaml, overridden per side by the arguments: side, peer_side,
keys_dir, private_key_file, peer_public_key_file, zenoh_mode, zenoh_listen, zenoh_connect, db_path,
use_sim_time, params_file (`ros2 launch ... --show-args`). Deployment: docs/cross_border.md.
"""

from yard_bringup.ros_launch import border_launch_description


def generate_launch_description():
    return border_launch_description()
