"""Country from the client address, with a MaxMind-format database.

The bundled database is Geoacumen Country (package ``python-geoacumen``, Apache-2.0), read with
MaxMind's ``maxminddb`` reader; setting ``geo_database`` to any MaxMind-format country or city
file (e.g. GeoLite2-Country.mmdb) replaces it. Addresses are used here and for the cookieless
visitor hash only; they are never written to enriched events.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from typing import Any

from footfall.process.draft import Draft, Drop


@functools.cache
def country_name(code: str) -> str:
    import pycountry

    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return ""
    return str(getattr(country, "common_name", None) or country.name)


class GeoLookup:
    def __init__(self, database: str = "") -> None:
        import maxminddb

        if not database:
            import geoacumen

            database = str(geoacumen.db_path)
        self.database = database
        self._reader: Any = maxminddb.open_database(database)
        self.country = functools.lru_cache(maxsize=100_000)(self._country)

    def _country(self, ip: str) -> str:
        """ISO 3166-1 alpha-2 code, or "" for private, invalid or unknown addresses."""
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return ""
        if not address.is_global:
            return ""
        record = self._reader.get(address)
        if not isinstance(record, dict):
            return ""
        country = record.get("country") or record.get("registered_country") or {}
        code = country.get("iso_code") if isinstance(country, dict) else None
        if not isinstance(code, str) or len(code) != 2 or not code.isalpha():
            return ""
        return code.upper()

    def close(self) -> None:
        self._reader.close()


def make_put_geo(geo: GeoLookup) -> Callable[[Draft], Drop | None]:
    def put_geo(d: Draft) -> Drop | None:
        code = geo.country(d.raw.ip)
        d.event.country_id = code
        d.event.country = country_name(code) if code else ""
        return None

    return put_geo
