"""Items and user properties: the contract rules every protocol maps onto."""

from __future__ import annotations

import msgspec
import pytest

from footfall.schema import money
from footfall.schema.events import Item, RawEvent
from footfall.schema.items import MAX_ITEMS, check_items, check_user_properties


def test_a_ga4_item_keeps_its_fields_exact_and_its_custom_parameters_apart() -> None:
    items, problem = check_items(
        [
            {
                "item_id": "SKU_12345",
                "item_name": "Stan and Friends Tee",
                "item_category2": "Adult",
                "price": 10.01,
                "discount": "2.22",
                "quantity": 3,
                "index": 0,
                "color": "green",
            }
        ]
    )
    assert problem is None
    (item,) = items
    assert item == Item(
        item_id="SKU_12345",
        item_name="Stan and Friends Tee",
        item_category2="Adult",
        price="10.01",
        discount="2.22",
        quantity=3,
        index=0,
        params={"color": "green"},
    )
    assert money.to_micros(item.price) == 10_010_000


@pytest.mark.parametrize(
    ("items", "reason", "where"),
    [
        ({"item_id": "a"}, "invalid_items", "items must be a list"),
        ([{"price": 1}], "item_without_id", "items[0] needs item_id or item_name"),
        ([{"item_id": "a", "quantity": "many"}], "invalid_item_value", "items[0].quantity"),
        ([{"item_id": "a", "price": "NaN"}], "invalid_item_value", "items[0].price"),
        ([{"item_id": "a", "price": 1e13}], "invalid_item_value", "items[0].price"),
        ([{"item_id": "a", "item_brand": "x" * 101}], "invalid_item_value", "item_brand"),
        ([{"item_id": "a", "_private": 1}], "invalid_param_name", "items[0]"),
        ([{"item_id": "a", "google_x": 1}], "reserved_param_name", "items[0]"),
        ([{"item_id": "a", "tags": ["x"]}], "invalid_item_value", "items[0].tags"),
        (
            [{"item_id": "a", **{f"p{i}": i for i in range(11)}}],
            "too_many_item_params",
            "items[0] has 11",
        ),
        ([{"item_id": str(i)} for i in range(MAX_ITEMS + 1)], "too_many_items", "201 items"),
    ],
)
def test_an_item_outside_the_rules_is_refused_naming_where(
    items: object, reason: str, where: str
) -> None:
    accepted, problem = check_items(items)
    assert accepted == ()
    assert problem is not None
    assert problem.reason == reason
    assert where in problem.message


def test_user_properties_are_checked_and_a_null_clears_one() -> None:
    values, problem = check_user_properties({"plan": "pro", "seats": 12, "old": None})
    assert (values, problem) == ({"plan": "pro", "seats": 12}, None)
    for bad, reason in [
        ({"9lives": "x"}, "invalid_user_property_name"),
        ({"first_open_time": 1}, "reserved_user_property_name"),
        ({"plan": "x" * 37}, "user_property_value_too_long"),
        ({"plan": True}, "invalid_user_property_value"),
        ({f"p{i}": i for i in range(26)}, "too_many_user_properties"),
    ]:
        assert check_user_properties(bad)[1].reason == reason  # type: ignore[union-attr]


def test_a_raw_event_queued_before_items_decodes_with_them_unset() -> None:
    old = msgspec.msgpack.encode(
        {
            "property_id": "p",
            "event_id": "e",
            "name": "page_view",
            "event_time": 1,
            "received_at": 1,
        }
    )
    event = msgspec.msgpack.decode(old, type=RawEvent)
    assert (event.items, event.user_properties, event.rejection) == (None, None, None)
    again = msgspec.msgpack.decode(
        msgspec.msgpack.encode(msgspec.structs.replace(event, items=(Item(item_id="a"),))),
        type=RawEvent,
    )
    assert again.items == (Item(item_id="a"),)
