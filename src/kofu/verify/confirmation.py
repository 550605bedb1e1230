"""システム確認試験 — the system confirmation test a municipality runs before going live.

Checks the tenant's settings, its keys, its calendar, and issues every offered certificate type for a
test resident, verifies it, then voids it (so the test consumes issuance numbers honestly, each with a
void record).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from kofu.common.clock import JST
from kofu.common.errors import KofuError
from kofu.issuer import keys as keystore
from kofu.issuer.eligibility import IssueRequest, check_service, evaluate
from kofu.issuer.service import IssuerService, read_facts
from kofu.issuer.store import IssuerStore
from kofu.issuer.tenant import CertificateType, TenantSettings
from kofu.registry.store import RegistryStore
from kofu.verify.service import Outcome, Verifier

VOID_REASON = "system-confirmation-test"


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


def _open_moment(tenant: TenantSettings, ctype: CertificateType, start: datetime) -> datetime | None:
    """The first moment within two weeks (on the hour) when this type is served."""
    moment = start.astimezone(JST).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    for _ in range(24 * 14):
        if not check_service(tenant, ctype, moment):
            return moment
        moment += timedelta(hours=1)
    return None


def _candidates(issuer: IssuerService, tenant: TenantSettings) -> list[str]:
    # read the list first: on SQLite every transaction holds the database lock while it is open
    with issuer.engine.connect() as conn:
        registry = [r.resident_id for r in RegistryStore(conn).list_residents(tenant.code, status=None, limit=500)]
    return [*tenant.test_residents, *registry]


def run_confirmation(issuer: IssuerService, verifier: Verifier, code: str) -> list[CheckResult]:
    results: list[CheckResult] = []
    try:
        tenant = issuer.tenants.get(code)
    except KofuError as exc:
        return [CheckResult("settings", False, exc.message_en)]
    results.append(CheckResult("settings", True, f"{tenant.name}: stage {tenant.stage.value}"))
    results += list(_check_keys(issuer, tenant))
    results += list(_check_calendar(tenant, issuer.clock.now()))
    if not all(r.ok for r in results):
        return results
    now = issuer.clock.now()
    for ctype in tenant.offered_types(now.astimezone(JST).date()):
        results.append(_issue_and_verify(issuer, verifier, tenant, ctype, now))
    return results


def _check_keys(issuer: IssuerService, tenant: TenantSettings) -> Iterator[CheckResult]:
    try:
        keys = keystore.load_tenant_keys(issuer.keys_dir, tenant.code)
    except KofuError as exc:
        yield CheckResult("keys", False, exc.message_en)
        return
    cert = x509.load_pem_x509_certificate(keys.signing.cert_pem)
    ca = x509.load_pem_x509_certificate(keystore.ca_certificate_pem(issuer.keys_dir))
    key = serialization.load_pem_private_key(keys.signing.key_pem, None)
    problems = []
    ca_key = ca.public_key()
    assert isinstance(ca_key, rsa.RSAPublicKey) and cert.signature_hash_algorithm is not None
    try:
        ca_key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
    except Exception:
        problems.append("signing certificate is not signed by the document-signing CA")
    now = issuer.clock.now()
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        problems.append(f"signing certificate not valid now (until {cert.not_valid_after_utc:%Y-%m-%d})")
    elif cert.not_valid_after_utc - now < timedelta(days=60):
        problems.append(f"signing certificate expires soon ({cert.not_valid_after_utc:%Y-%m-%d}): rotate the keys")
    if key.public_key().public_numbers() != cert.public_key().public_numbers():  # type: ignore[union-attr]
        problems.append("signing key does not match its certificate")
    with issuer.engine.connect() as conn:
        registered = IssuerStore(conn).public_keys(tenant.code)
    if registered is None:
        problems.append("public keys are not registered in the issuer database (run `kofu tenant keys`)")
    elif registered[0] != keys.statement_public_raw or registered[1] != keys.signing.cert_pem.decode():
        problems.append("registered public keys differ from the key files")
    yield CheckResult("keys", not problems, "; ".join(problems) or f"valid until {cert.not_valid_after_utc:%Y-%m-%d}")


def _check_calendar(tenant: TenantSettings, now: datetime) -> Iterator[CheckResult]:
    problems = []
    if not tenant.closed_new_year:
        problems.append("the 12/29–1/3 closure is switched off")
    for m in tenant.maintenance:
        if m.end - m.start > timedelta(days=7):
            problems.append(f"maintenance window {m.start:%Y-%m-%d %H:%M} lasts more than 7 days")
    today = now.astimezone(JST).date()
    offered = tenant.offered_types(today)
    if not offered:
        problems.append(f"no certificate type is offered on {today}")
    for ctype in offered:
        if _open_moment(tenant, ctype, now) is None:
            problems.append(f"{ctype.value} is never served in the next two weeks")
    yield CheckResult("calendar", not problems, "; ".join(problems) or f"{len(offered)} types offered")


def _issue_and_verify(
    issuer: IssuerService, verifier: Verifier, tenant: TenantSettings, ctype: CertificateType, now: datetime
) -> CheckResult:
    name = f"issue {ctype.value}"
    moment = _open_moment(tenant, ctype, now)
    assert moment is not None
    request = None
    for resident_id in _candidates(issuer, tenant):
        candidate = IssueRequest(tenant.code, resident_id, ctype)
        with issuer.engine.connect() as conn:
            facts = read_facts(RegistryStore(conn), candidate, moment.date(), lock=False)
        if not evaluate(tenant, candidate, facts, moment):
            request = candidate
            break
    if request is None:
        return CheckResult(name, False, "no eligible test resident found (set test_residents in the tenant file)")
    try:
        issued = issuer.issue(request, channel="confirmation", at=moment)
    except KofuError as exc:
        return CheckResult(name, False, f"issuance failed: {exc.message_en}")
    verdict = verifier.verify_pdf(issued.pdf)
    issuer.void(tenant.code, issued.record.number, reason=VOID_REASON)
    after = verifier.verify_pdf(issued.pdf)
    ok = verdict.outcome is Outcome.VALID and after.outcome is Outcome.VOIDED
    return CheckResult(
        name,
        ok,
        f"No. {issued.record.number}: {verdict.outcome.value}, after void {after.outcome.value}"
        + ("" if ok else f" ({verdict.reason})"),
    )
