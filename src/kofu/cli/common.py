"""Helpers shared by the CLI modules: the container, error reporting."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

from kofu.bootstrap import Container
from kofu.common.errors import KofuError

console = Console()
err_console = Console(stderr=True)


def container() -> Container:
    return Container()


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn expected failures into one clear message and exit status 2."""
    try:
        yield
    except KofuError as exc:
        err_console.print(f"[bold red]error[/] {escape(f'[{exc.code}]')} {escape(exc.message_en)}")
        if exc.message_ja != exc.message_en:
            err_console.print(f"      {escape(exc.message_ja)}")
        raise typer.Exit(2) from exc
