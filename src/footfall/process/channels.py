"""GA4's default channel group: ordered rules over source, medium, campaign and source category.

The first rule that matches wins; nothing matching is "Unassigned". Comparisons ignore case,
as GA4's do. Source categories (search, social, video, shopping) come from
:mod:`footfall.process.sources`.
"""

from __future__ import annotations

import re

PAID_MEDIUM = re.compile(r"^(.*cp.*|ppc|retargeting|paid.*)$")
SHOPPING_CAMPAIGN = re.compile(r"^(.*(([^a-df-z]|^)shop|shopping).*)$")
VIDEO_MEDIUM = re.compile(r"^(.*video.*)$")
DISPLAY_MEDIA = {"display", "banner", "expandable", "interstitial", "cpm"}
SOCIAL_MEDIA = {"social", "social-network", "social-media", "sm", "social network", "social media"}
EMAIL_WORDS = {"email", "e-mail", "e_mail", "e mail"}
REFERRAL_MEDIA = {"referral", "app", "link"}


def default_channel_group(source: str, medium: str, campaign: str, category: str) -> str:
    """``category`` is one of "search", "social", "video", "shopping" or "" (none known)."""
    source, medium, campaign = source.lower(), medium.lower(), campaign.lower()
    paid = bool(PAID_MEDIUM.match(medium))
    shop_campaign = bool(SHOPPING_CAMPAIGN.match(campaign))
    if source == "(direct)" and medium in ("(not set)", "(none)"):
        return "Direct"
    if "cross-network" in campaign:
        return "Cross-network"
    if paid:
        if category == "shopping" or shop_campaign:
            return "Paid Shopping"
        if category == "search":
            return "Paid Search"
        if category == "social":
            return "Paid Social"
        if category == "video":
            return "Paid Video"
    if medium in DISPLAY_MEDIA:
        return "Display"
    if paid:
        return "Paid Other"
    if category == "shopping" or shop_campaign:
        return "Organic Shopping"
    if category == "social" or medium in SOCIAL_MEDIA:
        return "Organic Social"
    if category == "video" or VIDEO_MEDIUM.match(medium):
        return "Organic Video"
    if category == "search" or medium == "organic":
        return "Organic Search"
    if medium in REFERRAL_MEDIA:
        return "Referral"
    if source in EMAIL_WORDS or medium in EMAIL_WORDS:
        return "Email"
    if medium == "affiliate":
        return "Affiliates"
    if medium == "audio":
        return "Audio"
    if source == "sms" or medium == "sms":
        return "SMS"
    if (
        medium.endswith("push")
        or "mobile" in medium
        or "notification" in medium
        or source == "firebase"
    ):
        return "Mobile Push Notifications"
    return "Unassigned"
