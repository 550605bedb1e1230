"""`kofu serve …`: run one actor as an HTTP service."""

from __future__ import annotations

import typer

from kofu.cli.common import container

app = typer.Typer(no_args_is_help=True)


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
) -> None:
    """The JPKI authority: OCSP responder, CRLs and CA certificates."""
    import uvicorn

    from kofu.cli.jpki import authority
    from kofu.jpki.api import create_app

    public_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    a = authority(container(), base_url or f"http://{public_host}:{port}")
    uvicorn.run(create_app(a), host=host, port=port)
