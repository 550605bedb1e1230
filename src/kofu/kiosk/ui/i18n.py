"""The kiosk's languages: gettext catalogs (Babel `.po` files in `kofu/kiosk/locale/<lang>/LC_MESSAGES/`).

The `.po` files are the source; they are compiled in memory on first use (Babel's `read_po` →
`write_mo` → `gettext.GNUTranslations`), so neither a build step nor committed `.mo` files are needed.
Message ids are English; every language, English included, has a non-empty translation of each
(`tests/kiosk/ui/test_i18n.py` fails otherwise).
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "kiosk"

# the municipality's six (DOMAIN.md §1), then the four large foreign-resident groups; each in its own name
LANGUAGES: dict[str, str] = {
    "ja": "日本語",
    "en": "English",
    "zh": "中文",
    "ko": "한국어",
    "es": "Español",
    "pt": "Português",
    "vi": "Tiếng Việt",
    "tl": "Tagalog",
    "ne": "नेपाली",
    "id": "Bahasa Indonesia",
}
DEFAULT_LANGUAGE = "ja"


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(lang: str) -> gettext.GNUTranslations:
    """The compiled catalog of `lang` (one of LANGUAGES)."""
    if lang not in LANGUAGES:
        raise KeyError(f"unknown kiosk language {lang!r}")
    with po_path(lang).open("rb") as fh:
        catalog = read_po(fh, locale=lang, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def language(value: str | None) -> str:
    """`value` if it is a kiosk language, else the default (Japanese)."""
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


def N_(msgid: str) -> str:
    """Marks a message id for extraction; the screen translates it when it shows it."""
    return msgid
