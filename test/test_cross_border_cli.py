"""`yard-autonomy border-keys` writes a usable key pair, never overwrites one by accident, explains itself."""

from __future__ import annotations

import os
import stat

import pytest

from cross_border.signing import fingerprint, load_private_key, load_public_key, sign, signature_ok
from yard_bringup import cli


def test_border_keys_writes_a_pair_the_gateway_loads(tmp_path, capsys):
    assert cli.main(["border-keys", "--side", "vn", "--out", str(tmp_path / "keys")]) == 0
    out = capsys.readouterr().out
    key, pub = load_private_key(tmp_path / "keys" / "vn.key"), load_public_key(tmp_path / "keys" / "vn.pub")
    assert stat.S_IMODE(os.stat(tmp_path / "keys" / "vn.key").st_mode) == 0o600
    assert signature_ok(sign({"x": 1}, key), pub)
    assert fingerprint(pub) in out and "side VN" in out


def test_border_keys_refuses_to_overwrite_unless_forced_and_checks_the_side(tmp_path, capsys):
    assert cli.main(["border-keys", "--side", "CN", "--out", str(tmp_path)]) == 0
    before = (tmp_path / "cn.pub").read_bytes()
    assert cli.main(["border-keys", "--side", "CN", "--out", str(tmp_path)]) == 1
    assert "--force" in capsys.readouterr().out
    assert (tmp_path / "cn.pub").read_bytes() == before
    assert cli.main(["border-keys", "--side", "CN", "--out", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "cn.pub").read_bytes() != before
    assert cli.main(["border-keys", "--side", "China", "--out", str(tmp_path)]) == 1
    assert "two-letter" in capsys.readouterr().out


def test_border_keys_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["border-keys", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for opt in ("--side", "--out", "--force", "cn.pub"):
        assert opt in text
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "border-keys" in capsys.readouterr().out
