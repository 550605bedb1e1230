"""The kiosk languages (shared by the kiosk screen and the public service page) and their gettext catalogs.

Catalogs are Babel `.po` files (`<dir>/<lang>/LC_MESSAGES/<domain>.po`), compiled in memory on first use
(`read_po` → `write_mo` → `gettext.GNUTranslations`): no build step, no committed `.mo` files.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

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
LOCALE_DIR = Path(__file__).resolve().parent / "locale"


def language(value: str | None) -> str:
    """`value` if it is one of the languages, else the default (Japanese)."""
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


def po_file(directory: Path, domain: str, lang: str) -> Path:
    return directory / lang / "LC_MESSAGES" / f"{domain}.po"


@cache
def catalog(directory: Path, domain: str, lang: str) -> gettext.GNUTranslations:
    """The compiled catalog of `lang` (one of LANGUAGES) in `directory`."""
    if lang not in LANGUAGES:
        raise KeyError(f"unknown language {lang!r}")
    with po_file(directory, domain, lang).open("rb") as fh:
        messages = read_po(fh, locale=lang, domain=domain)
    buf = io.BytesIO()
    write_mo(buf, messages)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def N_(msgid: str) -> str:
    """Marks a message id for extraction; it is translated where it is shown."""
    return msgid
