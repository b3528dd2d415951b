"""``yard-autonomy order``: submit, cancel or query transport orders of a running yard, as a client would.

A thin layer over :mod:`yard_ros.order_client` (which re-sends until answered, per the client
contract in docs/fleet_manager.md). Talks to the graph of the ROS domain in ``--domain-id`` or
``$ROS_DOMAIN_ID`` — the one ``yard-autonomy sim`` printed — never a leased one of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

EPILOG = """\
Documents: `submit` reads transport_order JSON documents (yard_model/schemas/transport_order.schema.json)
from FILE or standard input (-): one per line, or one JSON array. Every order is re-sent until the fleet
manager answers it (an order id is idempotent: sending it twice does no harm), waiting 2 s, then twice as
long each time up to 10 s; an 'overloaded' rejection is retried the same way.

Exit status: 0 when every order got an answer (with --until final: reached a final state) and none was
rejected, failed or unknown; 2 when all were answered but some were rejected, failed, cancelled by the
yard or unknown; 1 when some got no answer within --timeout (no fleet manager, wrong domain id).

Examples:
  yard-autonomy order submit orders.jsonl --domain-id 17
  echo '{"order_id": "o1", "container_id": "CNXU0000017", "origin": {"station": "cn_station",
        "truck_bay": "cn_truck_11"}, "destination": {"station": "vn_station"}}' | yard-autonomy order submit -
  yard-autonomy order status o1 o2
  yard-autonomy order cancel o1
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "order", help="submit, cancel or query transport orders of a running yard",
        description="Submit transport orders to the fleet manager of a running yard (yard-autonomy sim or a real "
                    "one), cancel them or ask for their state, and print each order's answer from "
                    "/fleet/order_events. Re-sends until answered (see the client contract in "
                    "docs/fleet_manager.md).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("submit", "cancel", "status"),
                   help="submit: send the orders in FILE; cancel / status: cancel or query the given order ids")
    p.add_argument("items", nargs="+", metavar="FILE|ID",
                   help="for submit, a file of orders (- for standard input); else order ids")
    p.add_argument("--until", choices=("ack", "final"), default="ack",
                   help="wait for the first answer (ack) or for a final state: completed, failed, cancelled or "
                        "rejected (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SEC",
                   help="give up on orders without an answer after SEC seconds (default: %(default)s)")
    p.add_argument("--domain-id", type=int, default=None, metavar="ID",
                   help="ROS_DOMAIN_ID of the yard (the one `yard-autonomy sim` printed); default: $ROS_DOMAIN_ID")
    p.add_argument("--json", action="store_true", help="print each answer as one JSON line")
    p.set_defaults(func=cmd_order)


def read_orders(item: str) -> list[dict]:
    """Orders from a file or standard input: a JSON array, or one document per line."""
    text = sys.stdin.read() if item == "-" else Path(item).read_text(encoding="utf-8")
    stripped = text.strip()
    if stripped.startswith("["):
        docs = json.loads(stripped)
    else:
        docs = [json.loads(line) for line in text.splitlines() if line.strip()]
    bad = [d for d in docs if not isinstance(d, dict) or not isinstance(d.get("order_id"), str)]
    if bad:
        raise ValueError(f"every document needs an order_id string; not: {json.dumps(bad[0])[:80]}")
    return docs


def cmd_order(args, console: Console) -> int:
    if args.domain_id is not None:
        os.environ["ROS_DOMAIN_ID"] = str(args.domain_id)
    if not os.environ.get("ROS_DOMAIN_ID"):
        console.print("[bold red]error:[/] no ROS domain: give --domain-id (the ROS_DOMAIN_ID `yard-autonomy sim` "
                      "printed) or set ROS_DOMAIN_ID", highlight=False)
        return 1
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    try:
        if args.action == "submit":
            docs = [d for item in args.items for d in read_orders(item)]
        else:
            docs = [{"order_id": i, "query" if args.action == "status" else "cancel": True} for i in args.items]
    except (OSError, ValueError) as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        return 1
    from yard_ros.order_client import OrderClient, is_final

    with OrderClient() as client:
        if not client.wait_for_manager(min(args.timeout, 10.0)):
            console.print("[yellow]no fleet manager subscribed to /fleet/orders yet; sending anyway[/]",
                          highlight=False)
        answers = client.submit(docs, args.timeout, args.until)
    ids = [str(d["order_id"]) for d in docs]
    if args.json:
        for oid in ids:
            print(json.dumps(answers.get(oid, {"order_id": oid, "event": None, "reason": "no answer"})))
    else:
        t = Table(title=f"{len(answers)} of {len(ids)} answered", title_justify="left")
        for col in ("order_id", "event", "carrier", "reason"):
            t.add_column(col, overflow="fold")
        for oid in ids:
            a = answers.get(oid)
            t.add_row(oid, "[red]no answer[/]" if a is None else a["event"], (a or {}).get("carrier_id") or "",
                      escape((a or {}).get("reason", "")))
        console.print(t)
    if len(answers) < len(ids) or (args.until == "final" and not all(is_final(a) for a in answers.values())):
        return 1
    bad = ("rejected", "failed", "unknown") + (("cancelled",) if args.action == "submit" else ())
    return 2 if any(a["event"] in bad for a in answers.values()) else 0
