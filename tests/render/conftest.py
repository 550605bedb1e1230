"""Fixtures: one sample document per kind, and a test PKI."""

from __future__ import annotations

import pytest

from kofu.render.model import CertificateDocument, DocumentKind
from tests.render.samples import Pki, make_doc, make_pki


@pytest.fixture(scope="session")
def pki() -> Pki:
    return make_pki()


@pytest.fixture(scope="session", params=list(DocumentKind), ids=lambda k: str(k))
def doc(request: pytest.FixtureRequest) -> CertificateDocument:
    kind: DocumentKind = request.param
    return make_doc(kind)
