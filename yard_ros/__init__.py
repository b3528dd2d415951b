"""Thin ROS 2 glue shared by the nodes: parameters, QoS, stamps, DDS domain isolation.

Algorithms never import this package; nodes use it to translate between
ROS and the pure cores. Submodules import rclpy lazily where they can, so
`yard_ros.params` and `yard_ros.domain` work without a ROS install.
"""
