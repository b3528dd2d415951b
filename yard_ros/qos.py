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
* ``EVENTS``: event streams (job events, collisions): reliable, deep queue
  so bursts are not dropped.
* ``ORDERS``: the fleet manager's order ingress (``/fleet/orders``
  subscription): reliable, volatile, KEEP_ALL. A reliable KEEP_ALL reader
  never drops a sample it has not handed to the node; when its buffer is full
  the writer is held back (a KEEP_ALL writer) instead. History is not part of
  QoS matching, so ``COMMAND`` (KEEP_LAST(10)) publishers still match.
* ``ORDER_EVENTS``: the answers (``/fleet/order_events`` publisher):
  reliable, volatile, KEEP_LAST(10000) — the writer never blocks and keeps a
  burst of 10,000 answers until every reader has it; ``EVENTS`` subscribers
  match.
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
ORDERS = QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE)
ORDER_EVENTS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10000, reliability=ReliabilityPolicy.RELIABLE)
