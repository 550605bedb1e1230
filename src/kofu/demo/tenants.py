"""The demo tenants: one TOML file per Hyogo municipality, shipped as package data."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from kofu.issuer.tenant import TenantSettings, parse_tenant

MAIN_TENANT = "282286"  # 加東市: the full-size population and every showcase case


def tenant_files() -> list[tuple[str, str]]:
    """(code, TOML text) of every demo tenant, in code order."""
    folder = resources.files("kofu.demo") / "tenants"
    out = []
    for entry in folder.iterdir():
        if entry.name.endswith(".toml"):
            out.append((entry.name.removesuffix(".toml"), entry.read_text(encoding="utf-8")))
    return sorted(out)


def load_tenants() -> list[TenantSettings]:
    return [parse_tenant(text, source=f"kofu/demo/tenants/{code}.toml") for code, text in tenant_files()]


def install_tenants(tenants_dir: Path, codes: list[str] | None = None) -> list[Path]:
    """Copies the demo TOML files into `tenants_dir`; a file already identical is left untouched (its
    mtime too, so a running issuer does not reload it). Returns the paths written or kept."""
    tenants_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for code, text in tenant_files():
        if codes is not None and code not in codes:
            continue
        path = tenants_dir / f"{code}.toml"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
