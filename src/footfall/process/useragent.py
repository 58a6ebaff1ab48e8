"""Device category, browser and operating system: from the request's device object, else from
the user agent (ua-parser, user-agents).

An app's HTTP client sends no browser user agent (``okhttp/4.12.0``, ``MyApp/3 CFNetwork/1494
Darwin/23.0.0``, ``Dart/3.3 (dart:io)``). For an app event (one with an ``app_instance_id``)
whose user agent is not a browser's, the parser gives only the operating system it can tell
(CFNetwork/Darwin: iOS, Dalvik: Android); the category is ``mobile`` and the browser empty.
A device object's fields win over what the user agent says, in pairs: a device's
``operating_system`` comes with its own version (none when it gives none), and so does its
``browser``. Names are GA4's: ``iOS``, ``Android``, ``Macintosh``; categories lower-case.
"""

from __future__ import annotations

import functools

import msgspec

from footfall.process.draft import Draft, Drop
from footfall.schema.events import RawEvent

# GA4 reports the family without the "Mobile" variants, and macOS as "Macintosh"
BROWSER_NAMES = {
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Chrome Mobile WebView": "Android Webview",
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "Safari (in-app)",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Edge Mobile": "Edge",
    "Opera Mobile": "Opera",
    "Samsung Internet": "Samsung Internet",
}
OS_NAMES = {"Mac OS X": "Macintosh", "Chrome OS": "Chrome OS", "Other": ""}
# a device object's operating_system and category (lower-cased) in GA4's spelling; any other
# value is kept as sent (the category lower-cased)
DEVICE_OS_NAMES = {
    "ios": "iOS",
    "iphone os": "iOS",
    "ipados": "iOS",
    "android": "Android",
    "macos": "Macintosh",
    "mac os": "Macintosh",
    "mac os x": "Macintosh",
    "macintosh": "Macintosh",
    "osx": "Macintosh",
    "windows": "Windows",
    "linux": "Linux",
    "chrome os": "Chrome OS",
    "chromeos": "Chrome OS",
}
DEVICE_CATEGORIES = {
    "phone": "mobile",
    "smartphone": "mobile",
    "tv": "smart tv",
    "smarttv": "smart tv",
    "smart_tv": "smart tv",
    "smart-tv": "smart tv",
}
APP_CATEGORY = "mobile"  # an app event whose device says no category


class ParsedAgent(msgspec.Struct, frozen=True):
    device_category: str
    browser: str
    browser_version: str
    os: str
    os_version: str
    is_bot: bool


@functools.lru_cache(maxsize=50_000)
def parse_user_agent(user_agent: str) -> ParsedAgent:
    import user_agents

    ua = user_agents.parse(user_agent)
    if ua.is_tablet:
        category = "tablet"
    elif ua.is_mobile:
        category = "mobile"
    else:
        category = "desktop"
    family = ua.browser.family
    browser = "" if family == "Other" else BROWSER_NAMES.get(family, family)
    os_family = ua.os.family
    return ParsedAgent(
        device_category=category,
        browser=browser,
        browser_version=ua.browser.version_string,
        os=OS_NAMES.get(os_family, os_family),
        os_version=ua.os.version_string,
        is_bot=bool(ua.is_bot),
    )


def is_browser_agent(user_agent: str) -> bool:
    """Every browser's user agent (and every WebView's) starts with ``Mozilla/``; HTTP client
    libraries' do not."""
    return user_agent.startswith("Mozilla/")


def _app_agent(parsed: ParsedAgent) -> ParsedAgent:
    """What an app's HTTP client user agent tells: the operating system, if anything."""
    return ParsedAgent(
        device_category=APP_CATEGORY,
        browser="",
        browser_version="",
        os=parsed.os,
        os_version=parsed.os_version,
        is_bot=parsed.is_bot,
    )


def device_agent(raw: RawEvent) -> ParsedAgent:
    """The event's device category, browser and OS: the device object's, else the user agent's."""
    parsed = parse_user_agent(raw.user_agent)
    if raw.app_instance_id and not is_browser_agent(raw.user_agent):
        parsed = _app_agent(parsed)
    device = raw.device
    if device is None:
        return parsed
    category = (device.category or "").strip().lower()
    os_name = (device.operating_system or "").strip()
    browser = (device.browser or "").strip()
    return ParsedAgent(
        device_category=DEVICE_CATEGORIES.get(category, category) or parsed.device_category,
        browser=BROWSER_NAMES.get(browser, browser) if browser else parsed.browser,
        browser_version=(device.browser_version or "").strip()
        if browser
        else parsed.browser_version,
        os=DEVICE_OS_NAMES.get(os_name.lower(), os_name) if os_name else parsed.os,
        os_version=(device.operating_system_version or "").strip()
        if os_name
        else parsed.os_version,
        is_bot=parsed.is_bot,
    )


def put_user_agent(d: Draft) -> Drop | None:
    parsed = device_agent(d.raw)
    ev = d.event
    ev.device_category = parsed.device_category
    ev.browser = parsed.browser
    ev.browser_version = parsed.browser_version
    ev.os = parsed.os
    ev.os_version = parsed.os_version
    return None
