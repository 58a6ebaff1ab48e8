"""Device category, browser and operating system from the user agent (ua-parser, user-agents)."""

from __future__ import annotations

import functools

import msgspec

from footfall.process.draft import Draft, Drop

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


def put_user_agent(d: Draft) -> Drop | None:
    parsed = parse_user_agent(d.raw.user_agent)
    ev = d.event
    ev.device_category = parsed.device_category
    ev.browser = parsed.browser
    ev.browser_version = parsed.browser_version
    ev.os = parsed.os
    ev.os_version = parsed.os_version
    return None
