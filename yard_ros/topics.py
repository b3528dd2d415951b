"""Topic names that more than one package uses (each package's own topics stay in its node).

``ODOMETRY_THROTTLE``: a carrier's localization estimate at ``throttle_rate_hz`` (10 Hz) beside the
control-rate ``localization/odometry`` (50 Hz). The other carriers' path followers and the fleet
manager need where a carrier is, not every control step: with N carriers every follower watches
the N - 1 others, so at 50 Hz the graph would carry 50 N (N - 1) of these messages a second
(6,600/s with 12 carriers), more than all the sensors together. The name follows topic_tools'
``<topic>_throttle``.
"""

ODOMETRY_THROTTLE = "localization/odometry_throttle"
