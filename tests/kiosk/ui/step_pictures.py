"""Copy the kiosk screenshots of the browser tests' Japanese walk into the public service page's steps.

    .venv/bin/python -m pytest -q tests/kiosk/ui/test_browser.py -k "ja-False or juminhyo"
    .venv/bin/python -m tests.kiosk.ui.step_pictures

writes src/kofu/info/static/steps/NN-<screen>.png (720 px wide, 64-colour palette), committed with the code.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[3]
SHOTS = ROOT / "var" / "test-artifacts" / "kiosk-ui"
OUT = ROOT / "src" / "kofu" / "info" / "static" / "steps"
PICTURES = {
    "01-start.png": "lang-ja/01-start.png",
    "02-card.png": "lang-ja/03-card.png",
    "03-service.png": "lang-ja/04-service.png",
    "04-pin.png": "lang-ja/05-pin.png",
    "05-remove-card.png": "lang-ja/06-remove-card.png",
    "06-type.png": "lang-ja/07-type.png",
    "07-confirm.png": "type-juminhyo/11-confirm.png",
    "08-pay.png": "lang-ja/10-pay.png",
    "09-reminder.png": "lang-ja/12-reminder.png",
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, shot in PICTURES.items():
        with Image.open(SHOTS / shot) as img:
            small = img.convert("RGB").resize((720, round(720 * img.height / img.width)), Image.Resampling.LANCZOS)
            small.quantize(64).save(OUT / name, optimize=True)
        print(OUT / name, (OUT / name).stat().st_size)


if __name__ == "__main__":
    main()
