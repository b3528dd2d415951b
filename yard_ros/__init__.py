"""Thin ROS 2 glue shared by the nodes: parameter declaration, QoS, stamps, markers, DDS domain isolation.

Algorithms never import this package; nodes use it to translate between
ROS and the pure cores. It imports only ``yard_model`` of the project's packages
(test/test_architecture.py). Submodules import rclpy lazily where they can, so
`yard_ros.params` and `yard_ros.domain` work without a ROS install.
"""
