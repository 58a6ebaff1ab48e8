"""Drop bots: crawlers and scripts (the crawlerdetect package), and headless browsers."""

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
def bot_reason(user_agent: str) -> str | None:
    """Why this user agent is not a person, or None."""
    if not user_agent.strip():
        return "empty user agent"
    if any(marker in user_agent for marker in HEADLESS_MARKERS):
        return "headless browser"
    parsed = parse_user_agent(user_agent)
    if parsed.is_bot or parsed.browser in HEADLESS_FAMILIES:
        return "bot user agent"
    if _detector().isCrawler(user_agent):  # type: ignore[attr-defined]
        return "crawler user agent"
    return None


def drop_bots(d: Draft) -> Drop | None:
    reason = bot_reason(d.raw.user_agent)
    return None if reason is None else Drop(DropReason.BOT, reason)
