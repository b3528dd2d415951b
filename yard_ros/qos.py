"""QoS profiles by kind of data, so every node uses the same, compatible ones.

* ``SENSOR_PUB`` / ``SENSOR_SUB``: sensor streams. Publishers are reliable
  (as Gazebo's bridge), subscribers best-effort, which matches both reliable
  simulator publishers and best-effort hardware drivers; a late sample is
  worth less than the next one.
* ``STATE``: high-rate state (odometry, joint states, localization output):
  reliable, shallow queue.
* ``COMMAND``: commands a consumer must not miss (cmd_vel, trajectories,
  jobs, orders): reliable, volatile.
* ``LATCHED``: documents a late joiner needs at once (world markers, fleet
  snapshot, emergency stop): reliable, transient local, depth 1.
* ``EVENTS``: event streams (order and job events, collisions): reliable,
  deep queue so bursts are not dropped.
"""

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)

SENSOR_PUB = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
SENSOR_SUB = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
STATE = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.RELIABLE)
COMMAND = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
EVENTS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=200, reliability=ReliabilityPolicy.RELIABLE)
