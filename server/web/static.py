"""`/static/`: Canopy's own styles and images, under names that carry a hash of their content.

A file `canopy.css` is served as `/static/canopy.<hash>.css`; the name changes whenever the content
does, so browsers may keep each file for a year without asking again. The files are read and
hashed once, at first use; templates ask `static_url('canopy.css')` for the current name.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from litestar.openapi.plugins import SwaggerRenderPlugin

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/static"
IMMUTABLE = "public, max-age=31536000, immutable"
_HASH_LENGTH = 12


@dataclass(frozen=True)
class Asset:
    content: bytes
    media_type: str


@dataclass(frozen=True)
class Assets:
    names: dict[str, str]
    """Each file's name -> its fingerprinted name."""
    by_fingerprint: dict[str, Asset]


def fingerprinted(name: str, content: bytes) -> str:
    stem, dot, suffix = name.rpartition(".")
    digest = hashlib.sha256(content).hexdigest()[:_HASH_LENGTH]
    return f"{stem}.{digest}.{suffix}" if dot else f"{name}.{digest}"


@cache
def assets() -> Assets:
    names: dict[str, str] = {}
    by_fingerprint: dict[str, Asset] = {}
    for path in sorted(STATIC_DIR.iterdir()):
        content = path.read_bytes()
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        names[path.name] = fingerprinted(path.name, content)
        by_fingerprint[names[path.name]] = Asset(content, media_type)
    return Assets(names, by_fingerprint)


def static_url(name: str) -> str:
    """The URL of a file of server/web/static/ (a KeyError for a file that is not there)."""
    return f"{STATIC_PATH}/{assets().names[name]}"


def find_asset(fingerprinted_name: str) -> Asset | None:
    return assets().by_fingerprint.get(fingerprinted_name)


def offline_swagger_ui() -> SwaggerRenderPlugin:
    """The OpenAPI UI at `/schema` with Swagger UI's files served from here, not a CDN: it works
    on a machine without internet access, and no third party sees who reads the API."""
    return SwaggerRenderPlugin(
        js_url=static_url("swagger-ui-bundle.js"),
        css_url=static_url("swagger-ui.css"),
        standalone_preset_js_url=static_url("swagger-ui-standalone-preset.js"),
        favicon=f"<link rel='icon' type='image/svg+xml' href='{static_url('canopy.svg')}'>",
    )
