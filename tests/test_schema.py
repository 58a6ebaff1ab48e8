"""The event contract: the JSON Schema, the msgspec structs and the examples agree."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema
import msgspec
import pytest

from conftest import example, example_names
from footfall.collect.protocols.native import Limits, Stamp, build_events, decode_envelope
from footfall.schema import rules
from footfall.schema.events import EnrichedEvent, RawEvent
from footfall.schema.wire import Device


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    text = resources.files("footfall.schema").joinpath("collect.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(loaded)
    return loaded


@pytest.mark.parametrize("name", example_names())
def test_examples_follow_the_json_schema_or_are_rejected_by_it(
    schema: dict[str, Any], name: str
) -> None:
    body = example(name)
    validator = jsonschema.Draft202012Validator(schema)
    errors = list(validator.iter_errors(body))
    stamp = Stamp(property_id="1", received_at=1_800_000_000_000_000, ip="", user_agent="x")
    _accepted, results = build_events(decode_envelope(json.dumps(body).encode()), stamp, Limits())
    rejected = [r for r in results if r.status == "rejected"]
    # the schema and the collector agree: an example is schema-valid exactly when no event is rejected
    assert (not errors) == (not rejected), (errors, rejected)


@pytest.mark.parametrize(
    "body",
    [
        {"events": [{"name": "x" * 41}]},
        {"events": [{"name": "ga_x"}]},
        {"events": [{"name": "ok", "params": {f"p{i}": 1 for i in range(26)}}]},
        {"events": [{"name": "ok"}] * 26},
        {"events": [{"name": "ok", "params": {"v": "x" * 101}}]},
        {"events": [{"name": "ok", "params": {"page_title": "x" * 301}}]},
        {"events": [{"name": "ok", "event_id": "a b"}]},
        {"events": []},
        {"events": [{"name": "ok"}], "unknown": 1},
        {"events": [{"name": "ok"}], "client_id": "1.1", "app_instance_id": "a1"},
        {"events": [{"name": "ok"}], "app_instance_id": "x" * 129},
        {"events": [{"name": "ok"}], "device": {"colour": "red"}},
        {"events": [{"name": "ok"}], "device": {"model": "x" * 101}},
    ],
)
def test_the_schema_refuses_what_the_collector_refuses(
    schema: dict[str, Any], body: dict[str, Any]
) -> None:
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(body))


def test_schema_limits_match_the_rules(schema: dict[str, Any]) -> None:
    event = schema["$defs"]["event"]
    assert schema["properties"]["events"]["maxItems"] == Limits().max_events
    assert event["properties"]["params"]["maxProperties"] == Limits().max_params
    props = event["properties"]["params"]["properties"]
    for name, limit in rules.LONG_VALUES.items():
        assert props[name]["maxLength"] == limit


def test_schema_device_fields_match_the_struct(schema: dict[str, Any]) -> None:
    device = schema["properties"]["device"]["properties"]
    assert set(device) == set(Device.__struct_fields__)
    assert {d["maxLength"] for d in device.values()} == {rules.MAX_DEVICE_CHARS}


def test_stored_events_round_trip_through_msgpack() -> None:
    raw = RawEvent(
        property_id="1",
        event_id="e",
        name="page_view",
        event_time=1,
        received_at=2,
        params={"a": 1, "b": "x", "c": 1.5, "d": True},
    )
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(raw), type=RawEvent) == raw
    app = msgspec.structs.replace(
        raw, app_instance_id="a" * 32, device=Device(category="mobile", app_version="1.0")
    )
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(app), type=RawEvent) == app
    assert "ip" not in EnrichedEvent.__struct_fields__
