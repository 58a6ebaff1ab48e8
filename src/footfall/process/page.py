"""Page fields: host and path from page_location, title, referrer, language and screen."""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from footfall.process.draft import Draft, Drop


@functools.lru_cache(maxsize=50_000)
def split_location(url: str) -> tuple[str, str]:
    """(host, path) of a page URL; the path keeps no query string or fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "", ""
    host = (parts.hostname or "").lower()
    path = parts.path or ("/" if host else "")
    return host, path


@functools.cache
def language_name(code: str) -> str:
    import pycountry

    primary = code.split("-", maxsplit=1)[0]
    lang = None
    if len(primary) == 2:
        lang = pycountry.languages.get(alpha_2=primary)
    elif len(primary) == 3:
        lang = pycountry.languages.get(alpha_3=primary)
    return "" if lang is None else str(lang.name)


def normalise_language(value: str) -> str:
    """A lower-case BCP 47 tag from a ``language`` param or an Accept-Language header."""
    first = (
        value.split(",", maxsplit=1)[0].split(";", maxsplit=1)[0].strip().replace("_", "-").lower()
    )
    if not first or first == "*" or len(first) > 35:
        return ""
    return first


def _text(params: dict[str, str | int | float | bool], name: str) -> str:
    value = params.get(name)
    return value if isinstance(value, str) else ""


def put_page(d: Draft) -> Drop | None:
    params = d.raw.params
    ev = d.event
    ev.page_location = _text(params, "page_location")
    ev.page_host, ev.page_path = split_location(ev.page_location)
    ev.page_title = _text(params, "page_title")
    ev.page_referrer = _text(params, "page_referrer")
    code = normalise_language(_text(params, "language") or d.raw.accept_language)
    ev.language_code = code
    ev.language = language_name(code) if code else ""
    ev.screen_resolution = _text(params, "screen_resolution")
    return None
