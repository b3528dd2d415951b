"""Bringup: the node graph description, the `yard-autonomy` command and resource lookup."""
