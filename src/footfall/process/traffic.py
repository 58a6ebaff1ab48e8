"""Traffic source of an event: UTM tags and click ids, else the referrer, else direct.

Order, as GA4 attributes a page view:
1. manual tags: ``utm_*`` in page_location (or GA4's campaign params) set source/medium/campaign;
2. auto-tagging click ids: gclid/gbraid/wbraid is google / cpc, dclid google / cpm, msclkid
   bing / cpc (other click ids such as fbclid are kept but do not change the source);
3. an external referrer: a known search engine is "<engine> / organic", anything else
   "<host> / referral" (a referrer on the page's own host is internal, not a source);
4. otherwise "(direct) / (none)".
Then the default channel group follows from :func:`default_channel_group`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

from footfall.process.channels import default_channel_group
from footfall.process.draft import Draft, Drop
from footfall.process.sources import SourceCatalog

UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "utm_id")
# GA4 Measurement Protocol campaign parameters, same order as UTM
CAMPAIGN_PARAMS = ("source", "medium", "campaign", "term", "content", "campaign_id")
CLICK_IDS = (
    "gclid",
    "gbraid",
    "wbraid",
    "dclid",
    "msclkid",
    "fbclid",
    "ttclid",
    "twclid",
    "li_fat_id",
)
AUTO_TAGGED = {
    "gclid": ("google", "cpc"),
    "gbraid": ("google", "cpc"),
    "wbraid": ("google", "cpc"),
    "dclid": ("google", "cpm"),
    "msclkid": ("bing", "cpc"),
}
MAX_TAG_CHARS = 100


@functools.lru_cache(maxsize=50_000)
def query_tags(url: str) -> dict[str, str]:
    """The UTM tags and click ids in a URL's query string (first value of each)."""
    try:
        query = urlsplit(url).query
    except ValueError:
        return {}
    tags: dict[str, str] = {}
    if not query:
        return tags
    for name, value in parse_qsl(query, keep_blank_values=False):
        key = name.lower()
        if (key in UTM or key in CLICK_IDS) and key not in tags:
            tags[key] = value[:MAX_TAG_CHARS]
    return tags


@functools.lru_cache(maxsize=50_000)
def referrer_host(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https", "android-app"):
        return ""
    return (parts.hostname or "").lower()


def make_put_traffic_source(catalog: SourceCatalog | None = None) -> Callable[[Draft], Drop | None]:
    sources = catalog or SourceCatalog()

    def put_traffic_source(d: Draft) -> Drop | None:
        ev = d.event
        params = d.raw.params
        tags = dict(query_tags(ev.page_location))
        for utm, param in zip(UTM, CAMPAIGN_PARAMS, strict=True):
            value = params.get(param)
            if isinstance(value, str) and value:
                tags[utm] = value
        for click_id in CLICK_IDS:
            value = params.get(click_id)
            if isinstance(value, str) and value:
                tags[click_id] = value
        click = next((c for c in CLICK_IDS if c in tags), "")
        ev.click_id_type, ev.click_id = click, tags.get(click, "")
        ev.term, ev.content, ev.campaign_id = (
            tags.get("utm_term", ""),
            tags.get("utm_content", ""),
            tags.get("utm_id", ""),
        )
        if any(k in tags for k in ("utm_source", "utm_medium", "utm_campaign")):
            ev.source = tags.get("utm_source", "(not set)")
            ev.medium = tags.get("utm_medium", "(not set)")
            ev.campaign = tags.get("utm_campaign", "(not set)")
        elif auto := next((AUTO_TAGGED[c] for c in AUTO_TAGGED if c in tags), None):
            ev.source, ev.medium = auto
            ev.campaign = "(not set)"
        else:
            host = referrer_host(ev.page_referrer)
            if host and host != ev.page_host:
                known = sources.lookup_host(host)
                if known is not None and known.category == "search":
                    ev.source, ev.medium, ev.campaign = known.name, "organic", "(organic)"
                else:
                    ev.source = host.removeprefix("www.")
                    ev.medium, ev.campaign = "referral", "(referral)"
            else:
                ev.source, ev.medium, ev.campaign = "(direct)", "(none)", "(direct)"
        ev.channel_group = default_channel_group(
            ev.source, ev.medium, ev.campaign, sources.category(ev.source)
        )
        return None

    return put_traffic_source
