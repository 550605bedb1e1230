"""The kiosk's touch screen in the browser: a small FastAPI app (mounted at `/kiosk/` by `kofu demo`,
served alone by `kofu serve kiosk`).

    GET  /                      a new customer session (one per browser tab) on the start screen
    POST /act                   one action of the customer (form: sid, action[, pin, kind, members, items, …])
    GET  /s/{sid}/page/{n}.png  a picture of a printed sheet in the session's tray
    GET  /static/…              CSS and JavaScript

Every screen is rendered on the server (Jinja2, autoescaped) in the session's language. Everything the
customer enters travels in POST bodies; URLs carry only the random session token. Sessions idle longer
than `idle_seconds` are cancelled (the order cancelled, the coins returned) when the browser reports the
timeout or when the next request finds them expired.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from kofu.card.readers import Reader
from kofu.common.errors import InvalidInput, KofuError
from kofu.kiosk.devices import PrinterFault
from kofu.kiosk.flow import CenterPort
from kofu.kiosk.ui.i18n import LANGUAGES, N_, language, translations
from kofu.kiosk.ui.session import PROGRESS, DemoCard, KioskSession, Screen

HERE = Path(__file__).resolve().parent

# msgids of screen titles and names (translated in the templates through _())
SCREEN_TITLES: dict[Screen, str] = {
    Screen.START: N_("Welcome"),
    Screen.TERMS: N_("Terms of use"),
    Screen.CARD: N_("Place your card"),
    Screen.SERVICE: N_("Choose a service"),
    Screen.PIN: N_("Enter your PIN"),
    Screen.REMOVE_CARD: N_("Remove your card"),
    Screen.TYPE: N_("Choose the certificate"),
    Screen.KIND: N_("Whose certificate"),
    Screen.ITEMS: N_("Printed items"),
    Screen.COPIES: N_("Number of copies"),
    Screen.CONFIRM: N_("Confirm your order"),
    Screen.PAY: N_("Payment"),
    Screen.REMINDER: N_("Take your certificates"),
    Screen.RECEIPT: N_("Receipt"),
    Screen.ENDED: N_("Notice"),
}
TYPE_NAMES = {
    "juminhyo": N_("Certificate of residence"),
    "kisai": N_("Certificate of resident record items"),
    "inkan": N_("Certificate of seal registration"),
    "shotoku": N_("Income certificate"),
}
KIND_NAMES = {
    "self": N_("Only me"),
    "household": N_("All members of my household"),
    "members": N_("Some members of my household"),
}
ITEM_NAMES = {
    "birth_date": N_("Date of birth"),
    "sex": N_("Sex"),
    "address": N_("Address"),
    "household_head": N_("Head of household and relationship"),
    "honseki": N_("Registered domicile and its head"),
    "became_resident_on": N_("Date of becoming a resident"),
    "address_since": N_("Date the address was set"),
    "notified_on": N_("Date of notification"),
    "previous_address": N_("Previous address"),
    "my_number": N_("Individual Number (My Number)"),
}


class SessionStore:
    """The open customer sessions of this kiosk screen server, by token."""

    def __init__(self) -> None:
        self._sessions: dict[str, KioskSession] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def add(self, session: KioskSession) -> None:
        with self._guard:
            self._sessions[session.id] = session
            self._locks[session.id] = threading.Lock()

    def get(self, sid: str) -> tuple[KioskSession, threading.Lock] | None:
        with self._guard:
            s = self._sessions.get(sid)
            return (s, self._locks[sid]) if s is not None else None

    def drop(self, sid: str) -> None:
        with self._guard:
            self._sessions.pop(sid, None)
            self._locks.pop(sid, None)

    def all(self) -> list[KioskSession]:
        with self._guard:
            return list(self._sessions.values())


def create_app(
    center: Callable[[], CenterPort],
    cards: Callable[[], Sequence[DemoCard]],
    work_dir: Path,
    *,
    idle_seconds: float = 90.0,
    warn_seconds: float = 30.0,
    reminder_seconds: float = 6.0,
) -> FastAPI:
    """The kiosk screen; `center()` makes its `CenterPort` (called once, on the first customer), `cards()`
    lists the demo cards of the simulated card slot, `work_dir` holds the sessions' trays."""
    port: list[CenterPort] = []

    def the_center() -> CenterPort:
        if not port:
            port.append(center())
        return port[0]

    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
    template = env.get_template("kiosk.html")
    store = SessionStore()
    app = FastAPI(title="kofu kiosk", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="kiosk-static")
    app.state.sessions = store

    def render(request: Request, s: KioskSession) -> HTMLResponse:
        tr = translations(s.lang)
        base = str(request.scope.get("root_path", "")).rstrip("/") + "/"
        html = template.render(
            s=s,
            _=tr.gettext,
            base=base,
            languages=LANGUAGES,
            progress=PROGRESS,
            screen_titles=SCREEN_TITLES,
            type_names=TYPE_NAMES,
            kind_names=KIND_NAMES,
            item_names=ITEM_NAMES,
            cards=cards() if s.screen is Screen.CARD else (),
            idle_seconds=idle_seconds,
            warn_seconds=warn_seconds,
            reminder_seconds=reminder_seconds,
        )
        return HTMLResponse(html, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})

    def new_session(lang: str = "ja", contrast: bool = False, large: bool = False) -> KioskSession:
        expire()
        work_dir.mkdir(parents=True, exist_ok=True)
        s = KioskSession(the_center(), cards(), work_dir, lang=language(lang), contrast=contrast, large=large)
        store.add(s)
        return s

    def expire() -> None:
        """Cancel sessions whose browser went away without reporting the timeout."""
        for s in store.all():
            if s.idle_for() > idle_seconds * 2 + 60:
                found = store.get(s.id)
                if found is not None:
                    with found[1]:
                        s.cancel("timeout")
                        s.close()
                store.drop(s.id)

    @app.get("/", response_class=HTMLResponse)
    def start(request: Request, lang: str = "ja") -> HTMLResponse:
        return render(request, new_session(lang))

    @app.post("/act", response_class=HTMLResponse)
    async def act(request: Request) -> HTMLResponse:
        form = await request.form()
        sid = str(form.get("sid", ""))
        found = store.get(sid)
        if found is None:  # an unknown or expired session: a fresh start
            return render(request, new_session(str(form.get("lang", "ja"))))
        s, lock = found
        fields = {k: [str(v) for v in form.getlist(k)] for k in form}

        def handle() -> KioskSession:
            with lock:
                if s.idle_for() > idle_seconds + 30 and s.screen not in (Screen.START, Screen.ENDED):
                    s.cancel("timeout")
                    s.touch()
                    return s
                s.touch()
                return act_on(s, fields)

        s2 = await run_in_threadpool(handle)
        if s2 is not s:
            store.drop(s.id)
        return render(request, s2)

    def act_on(s: KioskSession, fields: dict[str, list[str]]) -> KioskSession:
        actions = fields.get("action") or [""]
        action, _, value = actions[-1].partition(":")
        one = {k: v[-1] for k, v in fields.items() if v}
        try:
            return dispatch(s, action, value, one, fields)
        except InvalidInput as exc:
            s.notice = exc.code
            return s
        except KofuError as exc:
            s.cancel(exc.code)
            return s

    def dispatch(
        s: KioskSession, action: str, value: str, one: dict[str, str], fields: dict[str, list[str]]
    ) -> KioskSession:
        s.notice = None
        if action == "lang":
            s.lang = language(value)
        elif action == "contrast":
            s.contrast = not s.contrast
        elif action == "large":
            s.large = not s.large
        elif action in ("stay", ""):
            pass
        elif action == "fault":
            s.printer_fault = None if value == "ok" else PrinterFault(value)
        elif action == "done" or (action == "timeout" and s.screen in (Screen.ENDED, Screen.RECEIPT, Screen.REMINDER)):
            s.close()
            return new_session(s.lang, s.contrast, s.large)
        elif action == "timeout":
            s.cancel("timeout")
        elif action == "cancel":
            s.cancel("cancelled")
        elif action == "start" and s.screen is Screen.START:
            s.start()
        elif action in ("accept", "decline") and s.screen is Screen.TERMS:
            s.accept_terms(action == "accept")
        elif action == "card" and s.screen is Screen.CARD:
            s.place_card(_int(value), one.get("method", "jpki"))
        elif action == "service" and s.screen is Screen.SERVICE:
            s.choose_service()
        elif action == "pin" and s.screen is Screen.PIN:
            s.enter_pin(one.get("pin", ""))
        elif action == "removed" and s.screen is Screen.REMOVE_CARD:
            s.card_removed()
        elif action == "type" and s.screen is Screen.TYPE:
            s.choose_type(value)
        elif action == "kind" and s.screen is Screen.KIND:
            s.choose_kind(one.get("kind", "self"), fields.get("members", []))
        elif action == "items" and s.screen is Screen.ITEMS:
            fy = one.get("fiscal_year")
            s.choose_items(fields.get("items", []), _int(fy) if fy else None)
        elif action == "copies" and s.screen is Screen.COPIES:
            s.choose_copies(_int(one.get("copies", "1")))
        elif action == "correct" and s.screen is Screen.CONFIRM:
            s.correct(Screen(value))
        elif action == "confirm" and s.screen is Screen.CONFIRM:
            s.confirm()
        elif action == "coin" and s.screen is Screen.PAY:
            s.insert(_int(value))
        elif action == "pay" and s.screen is Screen.PAY:
            s.pay_and_print()
        elif action == "stop" and s.screen is Screen.REMINDER:
            s.stop_reminder()
        else:
            s.notice = "out-of-step"
        return s

    @app.get("/s/{sid}/page/{n}.png")
    def page(sid: str, n: int) -> FileResponse:
        found = store.get(sid)
        if found is None or not 0 <= n < len(found[0].pages):
            raise HTTPException(404, "no such page")
        return FileResponse(found[0].pages[n], media_type="image/png", headers={"Cache-Control": "no-store"})

    return app


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"not a number: {text!r}", f"数値ではありません: {text}") from None


def _loader(load: Callable[[Path], Reader], path: Path) -> Callable[[], Reader]:
    return lambda: load(path)


def showcase_cards(showcase: list[dict[str, Any]], load: Callable[[Path], Reader]) -> list[DemoCard]:
    """The demo cards of `showcase.json` entries (those that have a card), labelled without personal data."""
    out: list[DemoCard] = []
    for e in showcase:
        path = e.get("card")
        if not path:
            continue
        label = f"{e.get('tenant', '')} · {e.get('case', '')}"
        out.append(DemoCard(label, _loader(load, Path(path)), str(e.get("case", ""))))
    return out
