"""Sample certificate documents, seal images and a throwaway signing PKI for the render tests."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from PIL import Image, ImageDraw, ImageFont

from kofu.render.fonts import find_font
from kofu.render.model import AmountRow, CertificateDocument, DocumentKind, Field, PersonSection, SigningMaterial

STATEMENT = "KOFU1.282286.J.000123.20250401.eyJhbGciOiJFUzI1NiJ9.QmFzZTY0dXJsU2lnbmF0dXJlRXhhbXBsZQ"


@dataclass(frozen=True)
class Pki:
    root_pem: bytes
    material: SigningMaterial


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_pki(*, ec_signer: bool = False, passphrase: bytes | None = None) -> Pki:
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Kofu Test Root CA"))
        .issuer_name(_name("Kofu Test Root CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = (
        ec.generate_private_key(ec.SECP256R1()) if ec_signer else rsa.generate_private_key(65537, 2048)
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Kato City Document Signing"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    root_pem = ca.public_bytes(pem)
    return Pki(
        root_pem=root_pem,
        material=SigningMaterial(
            key_pem=key.private_bytes(
                pem,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption(),
            ),
            cert_pem=cert.public_bytes(pem),
            chain_pem=(root_pem,),
            key_passphrase=passphrase,
        ),
    )


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def make_official_seal(text: str = "加東市長之印") -> bytes:
    """A square red 公印: double border, 2x3 characters read top-to-bottom, right-to-left."""
    size = 240
    red = (200, 30, 35)
    img = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(img)
    d.rectangle((6, 6, size - 7, size - 7), outline=red, width=10)
    d.rectangle((22, 22, size - 23, size - 23), outline=red, width=3)
    font = ImageFont.truetype(str(find_font()), 60)
    cols = [text[i : i + 3] for i in range(0, len(text), 3)]  # right column first, read downwards
    for ci, col in enumerate(cols):
        x = size - 32 - 60 - ci * 86
        for ri, ch in enumerate(col):
            d.text((x, 30 + ri * 61), ch, fill=red, font=font, stroke_width=3, stroke_fill=red)
    return _png(img)


def make_seal_impression(text: str = "加東") -> bytes:
    """A round personal 印影 in vermilion."""
    size = 200
    red = (210, 40, 30)
    img = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(img)
    d.ellipse((8, 8, size - 9, size - 9), outline=red, width=9)
    font = ImageFont.truetype(str(find_font()), 70)
    for i, ch in enumerate(text):
        d.text((size / 2 - 35, 25 + i * 72), ch, fill=red, font=font, stroke_width=3, stroke_fill=red)
    return _png(img)


def person(i: int, name: str = "加東　太郎", kana: str = "かとう　たろう") -> PersonSection:
    return PersonSection(
        fields=(
            Field("氏名", name),
            Field("ふりがな", kana),
            Field("生年月日", f"昭和{40 + i}年{1 + i % 12}月{3 + i}日"),
            Field("性別", "男" if i % 2 == 0 else "女"),
            Field("続柄", "世帯主" if i == 0 else "子"),
            Field("住民となった年月日", f"平成{10 + i}年4月1日"),
            Field("住所を定めた年月日", f"平成{20 + i % 10}年5月{10 + i}日"),
            Field("届出年月日", f"平成{20 + i % 10}年5月{12 + i}日"),
            Field("従前の住所", f"兵庫県西脇市上比延町{100 + i}番地の{i + 1}"),
        )
    )


COMMON = {
    "municipality_name": "加東市",
    "issued_on": "令和7年4月1日",
    "mayor_title": "加東市長",
    "mayor_name": "安田　正義",
    "statement": STATEMENT,
    "verify_hint": "https://verify.kofu.example/v で真正性を確認できます",
    "extra": {"municipality_romaji": "KATO CITY"},
}

HEADER = (Field("住所", "兵庫県加東市社50番地"), Field("世帯主", "加東　太郎"))


def make_doc(kind: DocumentKind, persons: int = 2) -> CertificateDocument:
    seal = make_official_seal()
    if kind is DocumentKind.JUMINHYO or kind is DocumentKind.KISAI:
        names = ["加東　太郎", "加東　花子", "加東　一郎", "加東　次郎", "加東　三郎"]
        return CertificateDocument(
            kind=kind,
            title="住民票の写し" if kind is DocumentKind.JUMINHYO else "住民票記載事項証明書",
            issuance_number="282286-000123",
            header_fields=HEADER,
            persons=tuple(person(i, names[i % len(names)]) for i in range(persons)),
            certification_text=(
                "この写しは、住民票の原本と相違ないことを証明する。"
                if kind is DocumentKind.JUMINHYO
                else "上記のとおり住民票に記載されていることを証明する。"
            ),
            official_seal_png=seal,
            **COMMON,  # type: ignore[arg-type]
        )
    if kind is DocumentKind.INKAN:
        return CertificateDocument(
            kind=kind,
            title="印鑑登録証明書",
            issuance_number="282286-000124",
            header_fields=(),
            persons=(
                PersonSection(
                    fields=(
                        Field("氏名", "加東　太郎"),
                        Field("生年月日", "昭和40年1月3日"),
                        Field("性別", "男"),
                        Field("住所", "兵庫県加東市社50番地"),
                    )
                ),
            ),
            certification_text="この写しは、登録されている印影と相違ないことを証明する。",
            official_seal_png=seal,
            seal_impression_png=make_seal_impression(),
            **COMMON,  # type: ignore[arg-type]
        )
    return CertificateDocument(
        kind=kind,
        title="所得証明書",
        issuance_number="282286-000125",
        header_fields=(),
        persons=(
            PersonSection(
                fields=(
                    Field("氏名", "加東　太郎"),
                    Field("生年月日", "昭和40年1月3日"),
                    Field("住所", "兵庫県加東市社50番地"),
                )
            ),
        ),
        certification_text="上記のとおり相違ないことを証明する。",
        official_seal_png=seal,
        amounts_title="令和6年度（令和5年分）所得",
        amounts=(
            AmountRow("給与収入", "4,800,000円"),
            AmountRow("給与所得", "3,360,000円"),
            AmountRow("事業所得", "0円"),
            AmountRow("合計所得金額", "3,360,000円"),
            AmountRow("所得控除額合計", "1,230,000円"),
            AmountRow("課税標準額", "2,130,000円"),
        ),
        **COMMON,  # type: ignore[arg-type]
    )
