"""The tenant keys are parsed once per process and read again when their files change or are rotated."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kofu.common.errors import NotFound
from kofu.issuer import keys

T = "282286"


def _public(k: keys.TenantKeys) -> bytes:
    return k.statement_public_raw


def test_loaded_once_while_the_files_do_not_change(tmp_path: Path) -> None:
    keys.create_tenant_keys(tmp_path, T, "Kato", "加東市")
    first = keys.load_tenant_keys(tmp_path, T)
    assert keys.load_tenant_keys(tmp_path, T) is first  # the parsed keys of this process, no re-read


def test_rotation_in_this_process_is_seen_at_once(tmp_path: Path) -> None:
    before = keys.create_tenant_keys(tmp_path, T, "Kato", "加東市")
    rotated = keys.create_tenant_keys(tmp_path, T, "Kato", "加東市")
    after = keys.load_tenant_keys(tmp_path, T)
    assert _public(after) == _public(rotated) != _public(before)
    assert after.signing.cert_pem == (tmp_path / T / "sign-cert.pem").read_bytes()


def test_keys_replaced_by_another_process_are_read_again(tmp_path: Path) -> None:
    """`kofu tenant keys --rotate` runs in another process: this one sees the new files, not its copy."""
    other = tmp_path / "other"
    keys.create_tenant_keys(tmp_path, T, "Kato", "加東市")
    old = keys.load_tenant_keys(tmp_path, T)
    new = keys.create_tenant_keys(other, T, "Kato", "加東市")
    for name in ("sign-key.pem", "sign-cert.pem", "statement-key.pem"):
        target = tmp_path / T / name
        target.write_bytes((other / T / name).read_bytes())  # rewritten in place, as write_private does
        st = os.stat(target)  # even with the same size and a coarse clock, the stamp must move
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    shutil.copy(other / keys.CA_DIR / "cert.pem", tmp_path / keys.CA_DIR / "cert.pem")
    loaded = keys.load_tenant_keys(tmp_path, T)
    assert _public(loaded) == _public(new) != _public(old)
    assert loaded.signing.key_pem == (other / T / "sign-key.pem").read_bytes()


def test_removed_keys_are_not_served_from_the_cache(tmp_path: Path) -> None:
    keys.create_tenant_keys(tmp_path, T, "Kato", "加東市")
    keys.load_tenant_keys(tmp_path, T)
    (tmp_path / T / "statement-key.pem").unlink()
    with pytest.raises(NotFound):
        keys.load_tenant_keys(tmp_path, T)
