"""``yard-autonomy border-keys``: make the Ed25519 key pair a side's border gateway signs with.

Each side runs this once on its own gateway host, keeps ``<side>.key`` there (mode 0600) and hands
``<side>.pub`` to the other side out of band; both compare the printed fingerprint by phone,
because whoever can swap a public key in transit can sign as that side.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from rich.console import Console
from rich.markup import escape

EPILOG = """\
Files: DIR/<side>.key (PKCS#8 PEM private key, readable by its owner only) and DIR/<side>.pub
(SubjectPublicKeyInfo PEM), side in lower case, the names launch/border_gateway.launch.py's keys_dir
expects. An existing key is never overwritten unless --force is given.

Exit status: 0 when the pair was written; 1 when a file exists (without --force), the side is not a
two-letter code or the folder cannot be written.

Example:
  yard-autonomy border-keys --side CN --out keys/      # then give keys/cn.pub to the VN side
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "border-keys", help="generate a side's Ed25519 key pair for the border gateway",
        description="Generate the Ed25519 key pair one side's border gateway signs its customs documents with "
                    "(cross_border, docs/cross_border.md) and print the public key's fingerprint.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--side", required=True, metavar="CC",
                   help="the side the keys are for, an ISO 3166-1 alpha-2 code such as CN or VN")
    p.add_argument("--out", type=Path, default=Path("."), metavar="DIR",
                   help="folder to write <side>.key and <side>.pub to (default: the current folder)")
    p.add_argument("--force", action="store_true", help="overwrite an existing key pair of that side")
    p.set_defaults(func=cmd_border_keys)


def cmd_border_keys(args, console: Console) -> int:
    from cross_border.signing import fingerprint, generate_key_pair

    side = args.side.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", side):
        console.print(f"[bold red]error:[/] --side {escape(args.side)} is not a two-letter country code")
        return 1
    private, public = args.out / f"{side.lower()}.key", args.out / f"{side.lower()}.pub"
    try:
        key = generate_key_pair(private, public, overwrite=args.force)
    except (FileExistsError, OSError) as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}" + ("" if args.force else " (use --force to replace)"))
        return 1
    console.print(f"side {side}: private key {escape(str(private))} (keep it on this gateway), public key "
                  f"{escape(str(public))} (give it to the other side)\nfingerprint {fingerprint(key)}")
    return 0
