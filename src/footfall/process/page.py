"""Page fields: host and path from page_location, title, referrer, language and screen.

An app's screen name (``firebase_screen`` as GA4 Measurement Protocol for Firebase sends it,
or ``screen_name``) is kept where a web page keeps its title, so ``pageTitle`` and
``unifiedScreenName`` answer both. An event's own ``language`` and ``screen_resolution``
parameters win over the request's device object, which wins over ``Accept-Language``.
"""

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


# where the title comes from, in order: a web page's title, then an app's screen name
TITLE_PARAMS = ("page_title", "firebase_screen", "screen_name")


def _text(params: dict[str, str | int | float | bool], name: str) -> str:
    value = params.get(name)
    return value if isinstance(value, str) else ""


def title_param(params: dict[str, str | int | float | bool]) -> str | None:
    """The parameter the page title (or screen name) is taken from, or None."""
    return next((name for name in TITLE_PARAMS if _text(params, name)), None)


def put_page(d: Draft) -> Drop | None:
    params = d.raw.params
    ev = d.event
    ev.page_location = _text(params, "page_location")
    ev.page_host, ev.page_path = split_location(ev.page_location)
    title = title_param(params)
    ev.page_title = _text(params, title) if title else ""
    ev.page_referrer = _text(params, "page_referrer")
    device = d.raw.device
    code = normalise_language(
        _text(params, "language")
        or (device.language if device and device.language else "")
        or d.raw.accept_language
    )
    ev.language_code = code
    ev.language = language_name(code) if code else ""
    ev.screen_resolution = _text(params, "screen_resolution") or (
        device.screen_resolution.strip() if device and device.screen_resolution else ""
    )
    return None
