"""The private CA for mutual TLS between the center and the issuing server.

Layout under KOFU_HOME/keys/mtls (private keys are files with mode 0600):

    ca.pem, ca-key.pem            the private CA (signs only the two certificates below)
    issuer.pem, issuer-key.pem    the issuer's server certificate (EKU serverAuth; SAN 127.0.0.1, localhost
                                  and any extra host names given to `kofu pki init --host`)
    center.pem, center-key.pem    the center's client certificate (CN "kofu-center", EKU clientAuth)

The issuer requires a client certificate chaining to `ca.pem` (TLS CERT_REQUIRED), and then checks that
its subject CN is `kofu-center` (`kofu.issuer.api`). The issuer's own certificate carries only
serverAuth, so OpenSSL refuses it as a client certificate even though the same CA signed it.
This CA has nothing to do with JPKI or the document-signing CA: it authenticates machines, not people.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kofu.common.x509ca import self_signed_ca

MTLS_DIR = "mtls"
CENTER_CN = "kofu-center"
ISSUER_CN = "kofu-issuer"
CA_CN = "kofu private mTLS CA"
CA_YEARS = 10
LEAF_YEARS = 2
DEFAULT_HOSTS = ("127.0.0.1", "localhost")


class Role(StrEnum):
    SERVER = "server"
    CLIENT = "client"


@dataclass(frozen=True)
class MtlsFiles:
    """Paths of the private CA and the two leaf certificates (they may not exist yet)."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca-key.pem"

    @property
    def issuer_cert(self) -> Path:
        return self.directory / "issuer.pem"

    @property
    def issuer_key(self) -> Path:
        return self.directory / "issuer-key.pem"

    @property
    def center_cert(self) -> Path:
        return self.directory / "center.pem"

    @property
    def center_key(self) -> Path:
        return self.directory / "center-key.pem"

    def all(self) -> tuple[Path, ...]:
        return (self.ca_cert, self.ca_key, self.issuer_cert, self.issuer_key, self.center_cert, self.center_key)

    def complete(self) -> bool:
        return all(p.is_file() for p in self.all())


@dataclass(frozen=True)
class Authority:
    """A CA in memory: enough to sign leaf certificates (tests also make a foreign one)."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def mtls_files(keys_dir: Path) -> MtlsFiles:
    return MtlsFiles(keys_dir / MTLS_DIR)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_private(path: Path, data: bytes) -> None:
    """Writes a private key readable by its owner only (0600, also when the file existed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    path.chmod(0o600)


def create_ca(common_name: str = CA_CN, *, now: dt.datetime | None = None) -> Authority:
    start = now or _now()
    key = _new_key()
    name = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kofu"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )
    cert = self_signed_ca(
        key, name, not_before=start - dt.timedelta(minutes=5), not_after=start + dt.timedelta(days=365 * CA_YEARS)
    )
    return Authority(key, cert)


def issue_leaf(
    ca: Authority,
    common_name: str,
    role: Role,
    *,
    hosts: Sequence[str] = (),
    now: dt.datetime | None = None,
    days: int = 365 * LEAF_YEARS,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A leaf certificate for a TLS server (`hosts` become DNS/IP SANs) or a TLS client."""
    start = now or _now()
    key = _new_key()
    eku = ExtendedKeyUsageOID.SERVER_AUTH if role is Role.SERVER else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kofu"),
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                ]
            )
        )
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - dt.timedelta(minutes=5))
        .not_valid_after(min(start + dt.timedelta(days=days), ca.cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    if hosts:
        builder = builder.add_extension(x509.SubjectAlternativeName([_san(h) for h in hosts]), critical=False)
    return key, builder.sign(ca.key, hashes.SHA256())


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _write_leaf(cert_path: Path, key_path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    write_private(key_path, key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def init_pki(keys_dir: Path, *, hosts: Sequence[str] = (), force: bool = False) -> MtlsFiles:
    """Creates the private CA and both leaf certificates under `keys_dir/mtls`.

    Existing files are kept unless `force` (then everything is made anew, and the center needs the new
    `center.pem`/`center-key.pem` and `ca.pem`). A partial set is completed from the existing CA."""
    files = mtls_files(keys_dir)
    files.directory.mkdir(parents=True, exist_ok=True)
    files.directory.chmod(0o700)
    if force or not (files.ca_cert.is_file() and files.ca_key.is_file()):
        ca = create_ca()
        write_private(files.ca_key, key_pem(ca.key))
        files.ca_cert.write_bytes(ca.cert_pem)
        force = True
    else:
        ca = load_authority(files)
    if force or not (files.issuer_cert.is_file() and files.issuer_key.is_file()):
        all_hosts = tuple(dict.fromkeys((*DEFAULT_HOSTS, *hosts)))
        key, cert = issue_leaf(ca, ISSUER_CN, Role.SERVER, hosts=all_hosts)
        _write_leaf(files.issuer_cert, files.issuer_key, key, cert)
    if force or not (files.center_cert.is_file() and files.center_key.is_file()):
        key, cert = issue_leaf(ca, CENTER_CN, Role.CLIENT)
        _write_leaf(files.center_cert, files.center_key, key, cert)
    return files


CENTER_API_CN = "kofu-center-api"


def ensure_center_api_cert(keys_dir: Path, *, hosts: Sequence[str] = ()) -> tuple[Path, Path]:
    """The center's HTTPS server certificate for the kiosk API (`center-api.pem`, `center-api-key.pem`),
    signed by the same private CA, created when missing. Kiosks trust `ca.pem`."""
    files = ensure_pki(keys_dir)
    cert_path, key_path = files.directory / "center-api.pem", files.directory / "center-api-key.pem"
    if not (cert_path.is_file() and key_path.is_file()):
        all_hosts = tuple(dict.fromkeys((*DEFAULT_HOSTS, *hosts)))
        key, cert = issue_leaf(load_authority(files), CENTER_API_CN, Role.SERVER, hosts=all_hosts)
        _write_leaf(cert_path, key_path, key, cert)
    return cert_path, key_path


def ensure_pki(keys_dir: Path) -> MtlsFiles:
    """The mTLS files, created when any is missing."""
    files = mtls_files(keys_dir)
    return files if files.complete() else init_pki(keys_dir)


def load_certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def load_authority(files: MtlsFiles) -> Authority:
    key = serialization.load_pem_private_key(files.ca_key.read_bytes(), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{files.ca_key}: not an EC private key")
    return Authority(key, load_certificate(files.ca_cert))


def common_name(cert: x509.Certificate) -> str | None:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


@dataclass(frozen=True)
class CertSummary:
    path: Path
    subject: str
    issuer: str
    serial: str
    not_after: dt.datetime
    usage: str  # serverAuth | clientAuth | CA
    hosts: tuple[str, ...]
    sha256: str


def summarise(path: Path) -> CertSummary:
    cert = load_certificate(path)
    try:
        ekus = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        names = {ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth", ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth"}
        usage = ",".join(names.get(o, o.dotted_string) for o in ekus)
    except x509.ExtensionNotFound:
        usage = "CA"
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        hosts = tuple(str(v) for v in san.get_values_for_type(x509.IPAddress)) + tuple(
            san.get_values_for_type(x509.DNSName)
        )
    except x509.ExtensionNotFound:
        hosts = ()
    return CertSummary(
        path=path,
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=f"{cert.serial_number:x}",
        not_after=cert.not_valid_after_utc,
        usage=usage,
        hosts=hosts,
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
    )
