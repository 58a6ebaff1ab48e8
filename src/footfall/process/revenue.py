"""``put_revenue``: the event's value in integer micros of the property's currency.

The value parameter is read exactly (:mod:`footfall.schema.money`). A value in another currency
is converted with the stored exchange rates of the event's date in the property's time zone
(:mod:`footfall.process.rates`); without a rate the event is kept and counted, its value is
left out of revenue and it is flagged ``revenue_unconverted``. An event without a currency is
taken to be in the property's currency.
"""

from __future__ import annotations

from collections.abc import Callable

from footfall.process.draft import Draft, Drop
from footfall.process.rates import ExchangeRates
from footfall.schema import money

UNCONVERTED = "revenue_unconverted"


def make_put_revenue(rates: ExchangeRates) -> Callable[[Draft], Drop | None]:
    def put_revenue(d: Draft) -> Drop | None:
        ev, params = d.event, d.raw.params
        given = params.get("currency")
        code = money.currency_code(given)
        if code is None:  # absent, or (events queued before the contract checked it) malformed
            code = given.strip().upper()[:3] if isinstance(given, str) and given.strip() else ""
        micros = money.to_micros(params.get("value"))
        ev.currency = code or (d.prop.currency if micros is not None else "")
        if micros is None:
            ev.value_micros = None
            return None
        ev.value_micros = rates.convert(micros, ev.currency, d.prop.currency, ev.event_date)
        if ev.value_micros is None:
            ev.flags = f"{ev.flags},{UNCONVERTED}" if ev.flags else UNCONVERTED
        return None

    return put_revenue
