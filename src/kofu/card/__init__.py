"""The My Number card: the chip at APDU level, its card file, readers, the vpcd bridge and JpkiClient.

See docs/card.md. Imports only `kofu.common` and third-party libraries.
"""

from kofu.card.cardfile import CardFile, CardFileCorrupt, default_master_key, load_master_key
from kofu.card.chip import ATR, CARD_AP_AID, JPKI_AID, KENMEN_AID, Card, Holder, PersonalisationLocked
from kofu.card.client import CardError, JpkiClient, PinBlocked, WrongPin
from kofu.card.readers import InProcessReader, PcscReader, Reader, ReaderError
from kofu.card.vpcd import VpcdBridge

__all__ = [
    "ATR",
    "CARD_AP_AID",
    "JPKI_AID",
    "KENMEN_AID",
    "Card",
    "CardError",
    "CardFile",
    "CardFileCorrupt",
    "Holder",
    "InProcessReader",
    "JpkiClient",
    "PcscReader",
    "PersonalisationLocked",
    "PinBlocked",
    "Reader",
    "ReaderError",
    "VpcdBridge",
    "WrongPin",
    "default_master_key",
    "load_master_key",
]
