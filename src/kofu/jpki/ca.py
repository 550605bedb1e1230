"""The two JPKI certificate authorities and the profiles of the certificates they issue.

Each CA is a self-signed RSA-2048 root, created on first use under the directory the caller passes
(`KOFU_HOME/keys/jpki/` by convention):

    auth/key.pem  auth/cert.pem    JPKI for user authentication (利用者証明用)
    sign/key.pem  sign/cert.pem    JPKI for digital signature (署名用)

`key.pem` has mode 0600. A `CertificateAuthority` keeps its private key to itself: it signs
certificates, CRLs and OCSP responses, and no method returns the key.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import tempfile
from pathlib import Path

from asn1crypto.core import UTF8String
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from kofu.common.errors import InvalidInput
from kofu.jpki.model import (
    CA_OU,
    CA_OU_AGENCY,
    OID_ADDRESS,
    OID_ADDRESS_ALT,
    OID_BIRTH_DATE,
    OID_NAME,
    OID_NAME_ALT,
    OID_SEX,
    POLICY,
    SEX_CODES,
    CertKind,
    SignHolder,
    expiry,
)

CA_YEARS = 20
RSA_BITS = 2048


def ca_name(kind: CertKind) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, CA_OU[kind]),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, CA_OU_AGENCY),
        ]
    )


def _key_usage(*, digital_signature: bool = False, non_repudiation: bool = False, ca: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=non_repudiation,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _create_root(kind: CertKind, directory: Path, now: dt.datetime) -> None:
    """Writes key.pem and cert.pem into `directory` (which must not exist yet), atomically."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    name = ca_name(kind)
    start = now.replace(microsecond=0) - dt.timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.parent.mkdir(parents=True, exist_ok=True)
    # Build in a sibling temp directory and rename it into place: two processes starting at once
    # end up with the same CA (the loser's rename fails and it loads the winner's).
    tmp = Path(tempfile.mkdtemp(prefix=f".{kind.value}-", dir=directory.parent))
    try:
        _write_private(
            tmp / "key.pem",
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )
        (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        tmp.chmod(0o700)
        try:
            tmp.rename(directory)
        except OSError:
            if not (directory / "cert.pem").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _der_utf8(value: str) -> bytes:
    # cryptography has no public ASN.1 string encoder; asn1crypto's is the library one.
    return bytes(UTF8String(value).dump())


def _decode_utf8(der: bytes) -> str:
    return str(UTF8String.load(der).native)


def sign_attributes(cert: x509.Certificate) -> dict[str, str]:
    """The otherNames of a signing certificate, decoded: {"1.2.392.200149.8.5.5.1": "…", …}."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return {}
    return {o.type_id.dotted_string: _decode_utf8(o.value) for o in san.get_values_for_type(x509.OtherName)}


class CertificateAuthority:
    """One JPKI CA: its certificate in the open, its private key kept inside."""

    def __init__(self, kind: CertKind, certificate: x509.Certificate, key: rsa.RSAPrivateKey) -> None:
        self.kind = kind
        self.certificate = certificate
        self.__key = key
        pub = certificate.public_key()
        assert isinstance(pub, rsa.RSAPublicKey)
        self._key_der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
        self._name_der = certificate.subject.public_bytes()

    def __repr__(self) -> str:
        return f"CertificateAuthority({self.kind.value!r}, serial={self.certificate.serial_number:X})"

    @classmethod
    def load_or_create(cls, keys_dir: Path, kind: CertKind, *, now: dt.datetime | None = None) -> CertificateAuthority:
        directory = keys_dir / kind.value
        if not (directory / "cert.pem").exists():
            _create_root(kind, directory, now or dt.datetime.now(dt.UTC))
        key = serialization.load_pem_private_key((directory / "key.pem").read_bytes(), None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise InvalidInput(f"{directory / 'key.pem'} is not an RSA key")
        cert = x509.load_pem_x509_certificate((directory / "cert.pem").read_bytes())
        return cls(kind, cert, key)

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def matches_cert_id(self, algorithm: hashes.HashAlgorithm, name_hash: bytes, key_hash: bytes) -> bool:
        """Whether an OCSP CertID's issuer hashes (made with `algorithm`) designate this CA."""

        def digest(data: bytes) -> bytes:
            h = hashes.Hash(algorithm)
            h.update(data)
            return h.finalize()

        return digest(self._name_der) == name_hash and digest(self._key_der) == key_hash

    # ---- user certificates ----

    def _user_builder(
        self,
        public_key: rsa.RSAPublicKey,
        subject_cn: str,
        not_before: dt.datetime,
        not_after: dt.datetime,
        base_url: str,
    ) -> x509.CertificateBuilder:
        base = base_url.rstrip("/")
        return (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                        x509.NameAttribute(NameOID.COMMON_NAME, subject_cn),
                    ]
                )
            )
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.__key.public_key()), critical=False)
            .add_extension(x509.CertificatePolicies([x509.PolicyInformation(POLICY[self.kind], None)]), critical=False)
            .add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            full_name=[x509.UniformResourceIdentifier(f"{base}/crl/{self.kind.value}.crl")],
                            relative_name=None,
                            reasons=None,
                            crl_issuer=None,
                        )
                    ]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(f"{base}/ocsp")
                        ),
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.CA_ISSUERS,
                            x509.UniformResourceIdentifier(f"{base}/ca/{self.kind.value}.pem"),
                        ),
                    ]
                ),
                critical=False,
            )
        )

    def issue(
        self,
        public_key: rsa.RSAPublicKey,
        *,
        birth_date: dt.date,
        issued_at: dt.datetime,
        base_url: str,
        holder: SignHolder | None = None,
    ) -> x509.Certificate:
        """Certifies a card-generated public key. `holder` is required for (and only for) the signing CA."""
        if not isinstance(public_key, rsa.RSAPublicKey) or public_key.key_size < RSA_BITS:
            raise InvalidInput("JPKI user keys are RSA keys of at least 2048 bits")
        if (holder is None) != (self.kind is CertKind.AUTH):
            raise InvalidInput("the signing certificate needs the holder's details; the auth certificate none")
        not_before = issued_at.astimezone(dt.UTC).replace(microsecond=0)
        not_after = expiry(birth_date, issued_at)
        subject_cn = secrets.token_hex(12).upper()  # opaque: no personal data in the subject
        builder = self._user_builder(public_key, subject_cn, not_before, not_after, base_url)
        if holder is None:
            builder = builder.add_extension(_key_usage(digital_signature=True), critical=True)
        else:
            builder = builder.add_extension(
                _key_usage(digital_signature=True, non_repudiation=True), critical=True
            ).add_extension(x509.SubjectAlternativeName(_holder_names(holder)), critical=False)
        return builder.sign(self.__key, hashes.SHA256())

    # ---- revocation information ----

    def sign_crl(self, builder: x509.CertificateRevocationListBuilder) -> x509.CertificateRevocationList:
        builder = builder.issuer_name(self.certificate.subject).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(self.__key.public_key()), critical=False
        )
        return builder.sign(self.__key, hashes.SHA256())

    def sign_ocsp(self, builder: ocsp.OCSPResponseBuilder) -> ocsp.OCSPResponse:
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, self.certificate)
        return builder.sign(self.__key, hashes.SHA256())


def _holder_names(holder: SignHolder) -> list[x509.GeneralName]:
    values: list[tuple[x509.ObjectIdentifier, str | None]] = [
        (OID_NAME, holder.name),
        (OID_NAME_ALT, holder.name_kana),
        (OID_SEX, SEX_CODES[holder.sex]),
        (OID_BIRTH_DATE, holder.birth_date.strftime("%Y%m%d")),
        (OID_ADDRESS, holder.address),
        (OID_ADDRESS_ALT, holder.alt_address),
    ]
    return [x509.OtherName(oid, _der_utf8(value)) for oid, value in values if value]
