"""Sample customs documents and a keyed pair of exchanges for the cross_border tests."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cross_border.exchange import Exchange, ExchangeConfig
from cross_border.store import Store


def manifest(container: str, n: int = 1, origin: str = "CN", dest: str = "VN") -> dict:
    return {"manifest_id": f"m-{container}-{n}", "container_id": container, "seal_number": f"SL{n:06d}",
            "gross_mass_kg": 18250.5, "goods_description": "machine parts", "hs_code": "847990",
            "consignor_country": origin, "consignee_country": dest, "origin_side": origin,
            "destination_side": dest, "issued_at": 1000.0 + n}


def decision(container: str, n: int = 1, side: str = "VN", verdict: str = "released") -> dict:
    return {"decision_id": f"d-{side}-{container}-{n}", "manifest_id": f"m-{container}-1", "container_id": container,
            "side": side, "direction": "import" if side == "VN" else "export", "decision": verdict,
            "reason": "pre-cleared" if verdict == "released" else "random check", "stamp": 2000.0 + n}


class Pair:
    """CN and VN halves with fresh keys; ``db_dir`` keeps their stores on disk (else in memory)."""

    def __init__(self, db_dir: Path | None = None, **config):
        self.keys = {"CN": Ed25519PrivateKey.generate(), "VN": Ed25519PrivateKey.generate()}
        self.db_dir, self.config = db_dir, config
        self.cn = self.make("CN")
        self.vn = self.make("VN")

    def make(self, side: str) -> Exchange:
        peer = "VN" if side == "CN" else "CN"
        store = Store(self.db_dir / f"{side}.sqlite" if self.db_dir else ":memory:")
        return Exchange(ExchangeConfig(side=side, peer=peer, **self.config), store, self.keys[side],
                        self.keys[peer].public_key())
