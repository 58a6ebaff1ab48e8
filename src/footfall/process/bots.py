"""Drop bots: crawlers and scripts (the crawlerdetect package), and headless browsers.

An app's events (with an ``app_instance_id``) come from its HTTP client, whose user agent
(``okhttp/4.12.0``, ``Dart/3.3 (dart:io)``, or none) is on the script lists; for them only
the lists of agents that say they are automation apply: headless markers and ua-parser's bots.
A browser request with such a user agent and no ``app_instance_id`` is still dropped.
"""

from __future__ import annotations

import functools

from footfall.process.draft import Draft, Drop
from footfall.process.useragent import parse_user_agent
from footfall.schema.events import DropReason

# browser families ua-parser reports for automation rather than people
HEADLESS_FAMILIES = frozenset({"HeadlessChrome", "PhantomJS", "Electron"})
HEADLESS_MARKERS = (
    "HeadlessChrome",
    "PhantomJS",
    "Headless",
    "Lighthouse",
    "puppeteer",
    "Playwright",
)


@functools.cache
def _detector() -> object:
    from crawlerdetect import CrawlerDetect

    return CrawlerDetect()


@functools.lru_cache(maxsize=20_000)
def bot_reason(user_agent: str, *, app: bool = False) -> str | None:
    """Why this user agent is not a person, or None. ``app``: the event is an app's, whose
    HTTP client needs no browser user agent."""
    if not user_agent.strip():
        return None if app else "empty user agent"
    if any(marker in user_agent for marker in HEADLESS_MARKERS):
        return "headless browser"
    parsed = parse_user_agent(user_agent)
    if parsed.is_bot or parsed.browser in HEADLESS_FAMILIES:
        return "bot user agent"
    if not app and _detector().isCrawler(user_agent):  # type: ignore[attr-defined]
        return "crawler user agent"
    return None


def drop_bots(d: Draft) -> Drop | None:
    reason = bot_reason(d.raw.user_agent, app=bool(d.raw.app_instance_id))
    return None if reason is None else Drop(DropReason.BOT, reason)
