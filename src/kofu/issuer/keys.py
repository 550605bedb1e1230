"""Document-signing keys of each tenant, and the organisation CA that certifies them.

Layout under KOFU_HOME/keys (private keys are files with mode 0600 and never leave the issuer):

    docsign-ca/key.pem, cert.pem          the deployment's document-signing CA (an LGPKI-like 組織認証局)
    <code>/sign-key.pem, sign-cert.pem    the tenant's PAdES signing key (RSA-2048) and certificate
    <code>/statement-key.pem              the tenant's Ed25519 key for QR statements

The public halves are also registered in the issuer database (`issuer_tenant_keys`) so that a
verifier anywhere can check a certificate without the files.

`load_tenant_keys` keeps what it parsed per process and reads the files again only when one of them
changed (modification time, size or inode) — or when `create_tenant_keys` rotated them in this process:
an issuance no longer reads four files and parses a key.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kofu.common.errors import NotFound
from kofu.common.x509ca import self_signed_ca
from kofu.issuer.pki import write_private
from kofu.render.model import SigningMaterial

CA_DIR = "docsign-ca"
CA_YEARS = 20
SIGNER_YEARS = 5


@dataclass(frozen=True)
class TenantKeys:
    signing: SigningMaterial
    statement_key: Ed25519PrivateKey

    @property
    def statement_public_raw(self) -> bytes:
        return self.statement_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _pem_key(key: rsa.RSAPrivateKey | Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def ensure_ca(keys_dir: Path) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    ca_dir = keys_dir / CA_DIR
    key_path, cert_path = ca_dir / "key.pem", ca_dir / "cert.pem"
    if key_path.exists() and cert_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key, x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kofu"),
            x509.NameAttribute(NameOID.COMMON_NAME, "kofu Document Signing CA"),
        ]
    )
    now = _now()
    cert = self_signed_ca(
        key, name, not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=365 * CA_YEARS)
    )
    write_private(key_path, _pem_key(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def ca_certificate_pem(keys_dir: Path) -> bytes:
    path = keys_dir / CA_DIR / "cert.pem"
    if not path.exists():
        raise NotFound(f"no document-signing CA in {keys_dir}; run `kofu tenant keys CODE` or `kofu demo-data`")
    return path.read_bytes()


def create_tenant_keys(keys_dir: Path, code: str, name_en: str, name_ja: str) -> TenantKeys:
    ca_key, ca_cert = ensure_ca(keys_dir)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name_ja),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, code),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{name_en or code} certificate issuance"),
        ]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365 * SIGNER_YEARS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    statement_key = Ed25519PrivateKey.generate()
    tenant_dir = keys_dir / code
    write_private(tenant_dir / "sign-key.pem", _pem_key(key))
    (tenant_dir / "sign-cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    write_private(tenant_dir / "statement-key.pem", _pem_key(statement_key))
    forget_tenant_keys(keys_dir, code)
    return load_tenant_keys(keys_dir, code)


def has_tenant_keys(keys_dir: Path, code: str) -> bool:
    d = keys_dir / code
    return all((d / f).exists() for f in ("sign-key.pem", "sign-cert.pem", "statement-key.pem"))


_Stamp = tuple[tuple[int, int, int], ...]
_loaded: dict[tuple[str, str], tuple[_Stamp, TenantKeys]] = {}
_loaded_lock = threading.Lock()


def _key_files(keys_dir: Path, code: str) -> tuple[Path, ...]:
    d = keys_dir / code
    return d / "sign-key.pem", d / "sign-cert.pem", d / "statement-key.pem", keys_dir / CA_DIR / "cert.pem"


def _stamp(paths: tuple[Path, ...]) -> _Stamp | None:
    try:
        stats = [os.stat(p) for p in paths]
    except OSError:
        return None
    return tuple((st.st_mtime_ns, st.st_size, st.st_ino) for st in stats)


def forget_tenant_keys(keys_dir: Path, code: str) -> None:
    """Drops this process's parsed copy of the tenant's keys (they were rotated)."""
    with _loaded_lock:
        _loaded.pop((str(keys_dir), code), None)


def load_tenant_keys(keys_dir: Path, code: str) -> TenantKeys:
    """The tenant's keys, parsed once per process and again whenever one of their files changes."""
    cache_key = (str(keys_dir), code)
    stamp = _stamp(_key_files(keys_dir, code))
    if stamp is not None:
        with _loaded_lock:
            hit = _loaded.get(cache_key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
    keys = _read_tenant_keys(keys_dir, code)
    if stamp is not None and _stamp(_key_files(keys_dir, code)) == stamp:  # not rewritten while being read
        with _loaded_lock:
            _loaded[cache_key] = (stamp, keys)
    return keys


def _read_tenant_keys(keys_dir: Path, code: str) -> TenantKeys:
    d = keys_dir / code
    if not has_tenant_keys(keys_dir, code):
        raise NotFound(
            f"tenant {code} has no document-signing keys in {d}; run `kofu tenant keys {code}`",
            f"団体 {code} の署名鍵がありません。`kofu tenant keys {code}` を実行してください",
        )
    statement_key = serialization.load_pem_private_key((d / "statement-key.pem").read_bytes(), None)
    assert isinstance(statement_key, Ed25519PrivateKey)
    signing = SigningMaterial(
        key_pem=(d / "sign-key.pem").read_bytes(),
        cert_pem=(d / "sign-cert.pem").read_bytes(),
        chain_pem=(ca_certificate_pem(keys_dir),),
    )
    return TenantKeys(signing=signing, statement_key=statement_key)


def public_key_from_raw(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)
