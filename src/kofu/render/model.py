"""What a certificate page shows, already composed and formatted by the issuer.

render turns a `CertificateDocument` into PDF bytes; it knows layouts, fonts and security layers, not
registry rules. Every string here is printed as given (dates are already 和暦, money already formatted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class DocumentKind(StrEnum):
    JUMINHYO = "juminhyo"  # 住民票の写し
    KISAI = "kisai"  # 住民票記載事項証明書
    INKAN = "inkan"  # 印鑑登録証明書
    SHOTOKU = "shotoku"  # 所得証明書


@dataclass(frozen=True)
class Field:
    label: str  # e.g. 氏名
    value: str  # e.g. 加東　太郎


@dataclass(frozen=True)
class PersonSection:
    """One person's block (個票 row of a 住民票, or the holder of a seal / income record)."""

    fields: tuple[Field, ...]


@dataclass(frozen=True)
class AmountRow:
    label: str  # e.g. 給与所得
    amount: str  # formatted, e.g. 3,120,000円


@dataclass(frozen=True)
class CertificateDocument:
    kind: DocumentKind
    title: str  # 住民票の写し
    municipality_name: str  # 加東市
    issuance_number: str  # printed as 第 … 号, e.g. "282286-000123"
    header_fields: tuple[Field, ...]  # household-level facts: 住所, 世帯主 …
    persons: tuple[PersonSection, ...]
    certification_text: str  # この写しは、住民票の原本と相違ないことを証明する。
    issued_on: str  # 令和7年4月1日
    mayor_title: str  # 加東市長
    mayor_name: str  # 安田　正義
    official_seal_png: bytes  # 公印 image (red, square)
    statement: str  # the signed QR payload (no personal data in clear)
    amounts_title: str = ""  # 所得証明書: e.g. 令和6年度（令和5年分）所得
    amounts: tuple[AmountRow, ...] = ()
    seal_impression_png: bytes | None = None  # 印影 (印鑑登録証明書)
    notes: tuple[str, ...] = ()  # small print, e.g. 「以下余白」, remarks
    verify_hint: str = ""  # e.g. "https://…/verify/ で真正性を確認できます"
    extra: dict[str, str] = field(default_factory=dict)  # layout hints; never personal data


@dataclass(frozen=True)
class SigningMaterial:
    """The tenant's document-signing key and certificate chain, PEM-encoded (key may be encrypted)."""

    key_pem: bytes
    cert_pem: bytes
    chain_pem: tuple[bytes, ...] = ()
    key_passphrase: bytes | None = None
