"""docs/client.md and examples/ stay true to footfall.client (the examples are read, never
imported: Django, Flask and FastAPI are not footfall dependencies)."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path

import msgspec
import pytest

import footfall.client as fc

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "client.md").read_text()
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def test_every_option_is_documented_with_its_default() -> None:
    for field in dataclasses.fields(fc.Options):
        default = field.default
        assert f"| `{field.name}` | `{default}` |" in DOC, f"{field.name} (default {default})"


def test_every_stats_field_is_documented() -> None:
    for name in msgspec.structs.fields(fc.Stats):
        assert f"`{name.name}`" in DOC, name.name


def test_every_track_argument_is_documented() -> None:
    for name in inspect.signature(fc.Client.track).parameters:
        if name != "self":
            assert f"`{name}`" in DOC, name
    # both clients take the same events
    sync = list(inspect.signature(fc.Client.track).parameters)
    assert sync == list(inspect.signature(fc.AsyncClient.track).parameters)


def test_the_examples_exist_and_are_linked() -> None:
    names = {p.name for p in EXAMPLES}
    assert names == {"django_footfall.py", "flask_app.py", "fastapi_app.py"}
    for name in names:
        assert f"examples/{name}" in DOC


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_an_example_uses_only_what_the_sdk_offers(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "footfall.client"
        for alias in node.names
    }
    assert imported and imported <= set(fc.__all__)
    allowed = {
        "track": set(inspect.signature(fc.Client.track).parameters),
        "Client": set(inspect.signature(fc.Client).parameters),
        "AsyncClient": set(inspect.signature(fc.AsyncClient).parameters),
    }
    calls = 0
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
        if name == "track":
            calls += 1  # the SDK's, or a helper of the example's that wraps it
        if name == "track" and isinstance(node.func, ast.Attribute):
            keywords = {k.arg for k in node.keywords if k.arg}
            assert keywords <= allowed["track"], f"{path.name}: {keywords - allowed['track']}"
        elif name in ("Client", "AsyncClient"):
            keywords = {k.arg for k in node.keywords if k.arg}
            assert keywords <= allowed[name], f"{path.name}: {keywords - allowed[name]}"
    assert calls >= 2  # a page view and an event from a view
    # the visitor's user agent and address travel with the events (docs: user agents)
    text = path.read_text()
    assert "user_agent" in text and "ip_override" in text and "api_secret" in text
