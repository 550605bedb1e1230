"""The kiosk screen's languages: gettext catalogs in `kofu/kiosk/locale/<lang>/LC_MESSAGES/kiosk.po`.

Message ids are English; every language, English included, has a non-empty translation of each
(`tests/kiosk/ui/test_i18n.py` fails otherwise). Loading is `kofu.info.i18n.catalog` (in memory, no `.mo`).
"""

from __future__ import annotations

import gettext
from pathlib import Path

from kofu.info.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, catalog, language, po_file

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "kiosk"

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "N_", "language", "po_path", "translations"]


def po_path(lang: str) -> Path:
    return po_file(LOCALE_DIR, DOMAIN, lang)


def translations(lang: str) -> gettext.GNUTranslations:
    """The compiled catalog of `lang` (one of LANGUAGES)."""
    return catalog(LOCALE_DIR, DOMAIN, lang)
