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

import msgspec

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
OVERRIDES = tuple(zip(UTM, CAMPAIGN_PARAMS, strict=True)) + tuple((c, c) for c in CLICK_IDS)


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


class Attribution(msgspec.Struct, frozen=True):
    source: str
    medium: str
    campaign: str
    campaign_id: str
    term: str
    content: str
    click_id_type: str
    click_id: str
    channel_group: str


def make_put_traffic_source(catalog: SourceCatalog | None = None) -> Callable[[Draft], Drop | None]:
    sources = catalog or SourceCatalog()

    @functools.lru_cache(maxsize=50_000)
    def attribute(
        location: str, referrer: str, host: str, overrides: tuple[tuple[str, str], ...]
    ) -> Attribution:
        """Pure in its inputs, so cached: most page views repeat a (page, referrer) pair."""
        tags = {**query_tags(location), **dict(overrides)}
        click = next((c for c in CLICK_IDS if c in tags), "")
        if any(k in tags for k in ("utm_source", "utm_medium", "utm_campaign")):
            source = tags.get("utm_source", "(not set)")
            medium = tags.get("utm_medium", "(not set)")
            campaign = tags.get("utm_campaign", "(not set)")
        elif auto := next((AUTO_TAGGED[c] for c in AUTO_TAGGED if c in tags), None):
            (source, medium), campaign = auto, "(not set)"
        else:
            ref_host = referrer_host(referrer)
            known = sources.lookup_host(ref_host) if ref_host and ref_host != host else None
            if known is not None and known.category == "search":
                source, medium, campaign = known.name, "organic", "(organic)"
            elif ref_host and ref_host != host:
                source, medium, campaign = ref_host.removeprefix("www."), "referral", "(referral)"
            else:
                source, medium, campaign = "(direct)", "(none)", "(direct)"
        return Attribution(
            source=source,
            medium=medium,
            campaign=campaign,
            campaign_id=tags.get("utm_id", ""),
            term=tags.get("utm_term", ""),
            content=tags.get("utm_content", ""),
            click_id_type=click,
            click_id=tags.get(click, ""),
            channel_group=default_channel_group(source, medium, campaign, sources.category(source)),
        )

    def put_traffic_source(d: Draft) -> Drop | None:
        ev = d.event
        params = d.raw.params
        # GA4 campaign params and click ids sent as event params win over the page URL's
        overrides = tuple(
            (tag, value)
            for tag, param in OVERRIDES
            if isinstance(value := params.get(param), str) and value
        )
        a = attribute(ev.page_location, ev.page_referrer, ev.page_host, overrides)
        ev.source, ev.medium, ev.campaign = a.source, a.medium, a.campaign
        ev.campaign_id, ev.term, ev.content = a.campaign_id, a.term, a.content
        ev.click_id_type, ev.click_id = a.click_id_type, a.click_id
        ev.channel_group = a.channel_group
        return None

    return put_traffic_source
