"""Closed loops and test rigs: production cores run against simulated yards, in one process, no ROS.

The harness sits above the side-by-side packages (``agv_nav``, ``crane_control``, ``fleet_manager``,
``yard_sim``) and joins them; none of them imports it, and it never imports ``yard_bringup``.

* :mod:`yard_harness.fleet_sim`: the kinematic yard the fleet manager core drives;
* :mod:`yard_harness.day`: the simulated day (``yard-autonomy day``, ``bench/fleet.py``);
* :mod:`yard_harness.crane_loop`: crane controllers against the simulator's engine;
* :mod:`yard_harness.crane_baseline`: the naive crane controller the crane benchmark compares with.
"""
