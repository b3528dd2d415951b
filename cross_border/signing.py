"""Ed25519 keys and signed envelopes: what the other side can check came from us, unchanged.

The signature covers the canonical JSON of every envelope field except ``signature`` (sorted
keys, no spaces, UTF-8), so any change to the document, its addressing, attempt or time breaks
it. Keys are PEM files (PKCS#8 private key, SubjectPublicKeyInfo public key) that OpenSSL and
every language's crypto library read; the private one is written readable by its owner only.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class KeyFileError(ValueError):
    """A key file is missing or is not an Ed25519 key (the message names the file)."""


def canonical_bytes(envelope: dict[str, Any]) -> bytes:
    """The bytes a signature covers: every field but ``signature``, canonical JSON."""
    unsigned = {k: v for k, v in envelope.items() if k != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def sign(envelope: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """A copy of ``envelope`` with its ``signature`` (base64)."""
    signature = key.sign(canonical_bytes(envelope))
    return {**envelope, "signature": base64.b64encode(signature).decode("ascii")}


def signature_ok(envelope: dict[str, Any], key: Ed25519PublicKey) -> bool:
    """True if ``envelope['signature']`` is ``key``'s signature of the rest of the envelope."""
    try:
        signature = base64.b64decode(envelope["signature"], validate=True)
        key.verify(signature, canonical_bytes(envelope))
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False
    return True


def generate_key_pair(private_path: Path, public_path: Path, overwrite: bool = False) -> Ed25519PublicKey:
    """Write a new key pair; the private key file is created with mode 0600 and never overwritten by default."""
    private_path, public_path = Path(private_path), Path(public_path)
    for p in (private_path, public_path):
        if p.exists() and not overwrite:
            raise FileExistsError(f"{p} exists (refusing to overwrite a key)")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    private_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.parent.mkdir(parents=True, exist_ok=True)
    if overwrite and private_path.exists():
        private_path.unlink()
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public = key.public_key()
    public_path.write_bytes(public.public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo))
    return public


def load_private_key(path: Path | str) -> Ed25519PrivateKey:
    """The Ed25519 private key in a PEM file (KeyFileError naming the file otherwise)."""
    data = _read(path, "private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key ({type(key).__name__})")
    return key


def load_public_key(path: Path | str) -> Ed25519PublicKey:
    """The Ed25519 public key in a PEM file (KeyFileError naming the file otherwise)."""
    data = _read(path, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a PEM public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path}: not an Ed25519 key ({type(key).__name__})")
    return key


def fingerprint(key: Ed25519PublicKey) -> str:
    """Short hex id of a public key for logs and diagnostics (first 8 bytes of the raw key)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw[:8].hex()


def _read(path: Path | str, what: str) -> bytes:
    if not str(path):
        raise KeyFileError(f"no {what} file given (generate a pair with `yard-autonomy border-keys`)")
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the {what}: {exc.strerror}") from exc
