"""Keep DDS on this host and give every run its own ROS domain.

Fast DDS multicasts discovery to the whole network by default, and two runs
in the same ``ROS_DOMAIN_ID`` hear each other. A simulated yard, a test or a
CI job must do neither. ``local_ros_env`` sets
``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` and leases a domain id that no
other process on this machine holds (an exclusive file lock per id, released
when the holder exits, even by a crash), unless the user set their own.

No rclpy import: the bringup command calls this before starting any node.
"""

from __future__ import annotations

import fcntl
import os
import random
import tempfile
from pathlib import Path

DOMAIN_MIN = 1  # 0 is everybody's default domain: never lease it
DOMAIN_MAX = 232  # largest id Fast DDS maps to valid UDP ports
LOCK_DIR = Path(tempfile.gettempdir()) / "yard_autonomy_ros_domains"


class DomainLease:
    """An exclusive hold on one ROS domain id on this host."""

    def __init__(self, domain_id: int, fd: int | None):
        self.domain_id = domain_id
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None

    def __enter__(self) -> DomainLease:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def lease_domain_id(seed: int | None = None) -> DomainLease:
    """Lock a free domain id in [DOMAIN_MIN, DOMAIN_MAX]; raises RuntimeError if none is free."""
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    ids = list(range(DOMAIN_MIN, DOMAIN_MAX + 1))
    random.Random(seed if seed is not None else os.getpid()).shuffle(ids)
    for domain_id in ids:
        path = LOCK_DIR / f"{domain_id}.lock"
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        os.set_inheritable(fd, False)
        return DomainLease(domain_id, fd)
    raise RuntimeError(f"all ROS domain ids {DOMAIN_MIN}..{DOMAIN_MAX} are leased on this host")


def local_ros_env(env: dict[str, str] | None = None) -> tuple[dict[str, str], DomainLease | None]:
    """A copy of ``env`` with DDS kept on this host and a private domain id.

    Values the user already set win. Returns the environment and the lease
    (None when the user chose the domain); keep the lease alive as long as
    the processes that use the domain run.
    """
    out = dict(os.environ if env is None else env)
    out.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    lease = None
    if not out.get("ROS_DOMAIN_ID"):
        lease = lease_domain_id()
        out["ROS_DOMAIN_ID"] = str(lease.domain_id)
    return out, lease
