"""`kofu serve …`: run one actor as an HTTP service.

Every service logs JSON lines on stderr (`kofu.ops.logs`: service, request id, route, status, duration —
never personal data), answers `/healthz` and `/metrics`, and shuts down gracefully on SIGTERM or Ctrl-C:
it stops accepting connections, lets in-flight requests finish (up to `--grace` seconds) and exits 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from kofu.cli.common import container

app = typer.Typer(no_args_is_help=True)

GRACE = typer.Option(30, "--grace", help="seconds in-flight requests get to finish on shutdown")


def _run(service: str, asgi: Any, host: str, port: int, grace: int, **tls: Any) -> None:
    import uvicorn

    from kofu.ops import KEEP_ALIVE_SECONDS, configure_logging

    configure_logging(service)
    uvicorn.run(
        asgi,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=grace,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,  # kiosks and the center keep their (TLS) connections
        **tls,
    )


@app.callback()
def serve() -> None:
    """Run one actor as an HTTP service."""


@app.command("jpki")
def jpki(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8080, help="port to listen on"),
    base_url: str | None = typer.Option(
        None, help="URL written into issued certificates (CRL/OCSP); default http://HOST:PORT"
    ),
    grace: int = GRACE,
) -> None:
    """The JPKI authority: OCSP responder, CRLs and CA certificates."""
    from kofu.cli.jpki import authority
    from kofu.jpki.api import create_app

    public_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    a = authority(container(), base_url or f"http://{public_host}:{port}")
    _run("jpki", create_app(a), host, port, grace)


@app.command("center")
def center(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8001, help="port to listen on"),
    issuer_url: str | None = typer.Option(
        None, help="the issuing server (mutual TLS with KOFU_HOME/keys certificates); default: in-process"
    ),
    jpki_url: str | None = typer.Option(None, help="the JPKI OCSP/CRL service; default: in-process authority"),
    tls: bool = typer.Option(
        True, help="serve HTTPS with KOFU_HOME/keys/mtls/center-api.pem (kiosks trust ca.pem there)"
    ),
    grace: int = GRACE,
    order_timeout: float = typer.Option(300, "--order-timeout", min=1, help="seconds an order may stay idle"),
    sweep_every: float = typer.Option(
        30, "--sweep-every", min=0.1, help="seconds between sweeps that refund and void orders past their deadline"
    ),
) -> None:
    """The issuance center (証明書交付センター): the kiosk API, over HTTPS by default. On start it reconciles
    orders a crash left open (refund + void past their deadline), then sweeps every --sweep-every seconds."""
    from dataclasses import replace
    from datetime import timedelta

    from kofu.center.api import create_app
    from kofu.center.recovery import Sweeper, recover
    from kofu.cli.center import center_service
    from kofu.issuer.pki import ensure_center_api_cert

    c = container()
    service = center_service(c, issuer_url=issuer_url, jpki_url=jpki_url)
    service.settings = replace(service.settings, order_timeout=timedelta(seconds=order_timeout))
    try:
        recover(service)
    except Exception as exc:  # the issuer or database is away: the sweeper tries again
        typer.echo(f"recovery on start failed ({type(exc).__name__}); the sweeper retries", err=True)
    Sweeper(service, sweep_every).start()
    if not tls:
        _run("center", create_app(service), host, port, grace)
        return
    cert, key = ensure_center_api_cert(c.settings.keys_dir, hosts=(host,))
    _run("center", create_app(service), host, port, grace, ssl_certfile=str(cert), ssl_keyfile=str(key))


@app.command("issuer")
def issuer(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8002, help="port to listen on"),
    grace: int = GRACE,
) -> None:
    """The issuing server (証明発行サーバ), for the center only: HTTPS with a required client certificate
    from the private CA in KOFU_HOME/keys/mtls (made by `kofu pki init`, created here when missing)."""
    import ssl

    from kofu.issuer.api import create_app, tls_protocol
    from kofu.issuer.pki import ensure_pki

    c = container()
    files = ensure_pki(c.settings.keys_dir)
    _run(
        "issuer",
        create_app(c.issuer),
        host,
        port,
        grace,
        http=tls_protocol(),
        ssl_certfile=str(files.issuer_cert),
        ssl_keyfile=str(files.issuer_key),
        ssl_ca_certs=str(files.ca_cert),
        ssl_cert_reqs=ssl.CERT_REQUIRED,
    )


@app.command("kiosk")
def kiosk(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8003, help="port to listen on"),
    center: str | None = typer.Option(None, help="center base URL; default: an in-process center over KOFU_HOME"),
    kiosk_id: str | None = typer.Option(None, "--kiosk-id", help="this kiosk's id at the center (with --center)"),
    secret: str | None = typer.Option(None, "--secret", envvar="KOFU_KIOSK_SECRET", help="this kiosk's secret"),
    ca: str | None = typer.Option(None, "--ca", help="CA bundle for an https center"),
    idle: float = typer.Option(90.0, help="seconds without a touch before the order is cancelled"),
    pcsc: list[str] = typer.Option(None, "--pcsc", help="offer a real PC/SC reader in the card slot (name or part)"),
) -> None:
    """The kiosk touch screen (open http://HOST:PORT/ in a browser): simulated card slot with the demo cards,
    coin vendor, printer and speaker."""
    import uvicorn

    from kofu.card.readers import PcscReader, Reader
    from kofu.center.client import CenterClient
    from kofu.kiosk.ui.app import create_app
    from kofu.kiosk.ui.session import DemoCard
    from kofu.web import center_service, demo_cards, kiosk_ui

    def reader(name: str) -> Callable[[], Reader]:
        return lambda: PcscReader(name)

    readers = [DemoCard(f"PC/SC {name}", reader(name), "pcsc") for name in pcsc or []]
    c = container()
    if center is None:
        app = kiosk_ui(c, center_service(c), idle_seconds=idle, readers=readers)
    else:
        if not kiosk_id or not secret:
            raise typer.BadParameter("--center needs --kiosk-id and --secret (or KOFU_KIOSK_SECRET)")
        url, kid, sec = center, kiosk_id, secret
        app = create_app(
            lambda: CenterClient(url, kid, sec, verify=ca or True),
            lambda: [*readers, *demo_cards(c)],
            c.settings.home / "kiosk",
            idle_seconds=idle,
        )
    uvicorn.run(app, host=host, port=port)
