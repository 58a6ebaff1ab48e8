"""Known traffic sources: which hosts are search engines, social networks, video or shopping sites.

Search, social and email come from the referer-parser package (Snowplow's referers list);
video and shopping from ``data/source_categories.json``, after GA4's source categories.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources

import msgspec

_NAME_NORMALISE = re.compile(r"[^a-z0-9]+")


class KnownSource(msgspec.Struct, frozen=True):
    name: str  # e.g. "google" for Google search, as GA4 names search engines
    category: str  # "search", "social", "email", "video", "shopping" or ""


class SourceCatalog:
    def __init__(self) -> None:
        from referer_parser import REFERERS  # loads the package's list once

        self._by_host: dict[str, KnownSource] = {}
        self._by_name: dict[str, str] = {}
        for host, entry in REFERERS.items():
            medium = entry["medium"] if entry["medium"] in ("search", "social", "email") else ""
            name = _NAME_NORMALISE.sub("", entry["name"].lower())
            self._by_host[host.lower()] = KnownSource(name, medium)
            if medium:
                self._by_name.setdefault(name, medium)
        data = json.loads(
            resources.files("footfall.process").joinpath("data/source_categories.json").read_text()
        )
        self._extra: dict[str, str] = {}
        for category in ("video", "shopping"):
            for source in data[category]:
                self._extra[source.lower()] = category
        self.lookup_host = functools.lru_cache(maxsize=20_000)(self._lookup_host)
        self.category = functools.lru_cache(maxsize=20_000)(self._category)

    def _lookup_host(self, host: str) -> KnownSource | None:
        """The known source behind a referrer host (trying each parent domain)."""
        labels = host.lower().split(".")
        for i in range(len(labels) - 1):
            candidate = ".".join(labels[i:])
            found = self._by_host.get(candidate)
            if found is not None:
                extra = self._extra_category(host)
                return KnownSource(found.name, extra or found.category)
        return None

    def _extra_category(self, source: str) -> str:
        labels = source.split(".")
        for i in range(len(labels)):
            category = self._extra.get(".".join(labels[i:]))
            if category:
                return category
        return ""

    def _category(self, source: str) -> str:
        """Category of a source as reported (a search engine name, a host or a utm_source)."""
        source = source.lower().strip()
        if not source or source == "(direct)":
            return ""
        if extra := self._extra_category(source):
            return extra
        if "." in source:
            known = self._lookup_host(source)
            if known is not None:
                return known.category
        return self._by_name.get(_NAME_NORMALISE.sub("", source), "")
