"""Exchange rates on Cassandra: one partition per base currency, a row per currency and day."""

from __future__ import annotations

from collections.abc import Sequence

from footfall.store import RateRow
from footfall.store.cassandra.base import CassandraBase, _insert


class RateTables(CassandraBase):
    def put_rates(self, base: str, rates: Sequence[RateRow]) -> None:
        self._many(
            _insert("exchange_rates", ("base", "currency", "day", "rate")),
            [(base, c, d, r) for c, d, r in rates],
        )

    def exchange_rates(self, base: str) -> list[RateRow]:
        return [
            (r.currency, r.day.date(), r.rate)
            for r in self._one(
                "SELECT currency, day, rate FROM exchange_rates WHERE base = ?", (base,)
            )
        ]
