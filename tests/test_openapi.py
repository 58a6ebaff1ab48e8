"""``GET /openapi.json``: an OpenAPI 3.1 document of exactly the routes the app serves, with
the request bodies of the structs the handlers decode, the credentials each route takes, and
Google's error shape. A new route without an entry in its API's ``TAKES`` fails here."""

from __future__ import annotations

from typing import Any

import jsonschema
import msgspec
import pytest
import schemathesis

from conftest import App
from footfall.api.openapi import operations
from footfall.gateway.access import Access


@pytest.fixture
def document(app: App) -> dict[str, Any]:
    r = app.http.get("/openapi.json")  # public: no key
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    doc: dict[str, Any] = r.json()
    return doc


def test_it_lists_exactly_the_routes_the_app_serves(app: App, document: dict[str, Any]) -> None:
    served = {
        (route.path, method.lower()) for route, method in operations(app.http.transport.app.routes)
    }
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert served == documented
    assert len(served) > 30
    assert document["openapi"] == "3.1.0"


def test_every_route_says_what_it_takes(app: App) -> None:
    """Each operation is in its API's TAKES table, so its body and query are documented."""
    takes = app.http.transport.app.state.takes
    for route, method in operations(app.http.transport.app.routes):
        name = route.endpoint.__name__
        assert name in takes, f"{method} {route.path} ({name}) is not in its API's TAKES table"


def test_bodies_come_from_the_structs_the_handlers_decode(
    app: App, document: dict[str, Any]
) -> None:
    takes = app.http.transport.app.state.takes
    schemas = document["components"]["schemas"]
    with_body = 0
    for path, item in document["paths"].items():
        for method, op in item.items():
            spec = takes[op["operationId"].removesuffix("Preflight")]
            if spec.body is None or method not in ("post", "patch"):
                assert "requestBody" not in op, (method, path)
                continue
            with_body += 1
            ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            name = ref.rsplit("/", 1)[1]
            assert name == spec.body.__name__ and name in schemas
            # the component is msgspec's own schema of the struct
            _, components = msgspec.json.schema_components(
                [spec.body], ref_template="#/components/schemas/{name}"
            )
            assert schemas[name] == components[name]
            assert str(spec.status) in op["responses"]
    assert with_body >= 12
    run = schemas["RunReportRequest"]["properties"]
    assert {"dateRanges", "dimensions", "metrics", "dimensionFilter", "offset", "limit"} <= set(run)


def test_security_follows_each_routes_access_policy(app: App, document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer", "description": "an API key"}
    assert schemes["googApiKey"]["in"] == "header"
    assert schemes["googApiKey"]["name"] == "x-goog-api-key"
    for route, method in operations(app.http.transport.app.routes):
        op = document["paths"][route.path][method.lower()]
        access = route.endpoint.access
        if method == "OPTIONS" or access is Access.PUBLIC:
            assert op["security"] == [], route.path
        elif access is Access.INGEST:
            assert {} in op["security"] and {"bearer": []} in op["security"]
        else:
            assert op["security"] == [{"bearer": []}, {"googApiKey": []}], route.path
            assert "401" in op["responses"]


def test_errors_have_googles_shape(app: App, document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["Error"]
    r = app.http.post(
        f"/v1beta/properties/{app.property.property_id}:runReport", json={"metrics": "x"}
    )
    jsonschema.validate(r.json(), error)
    assert r.status_code == 401
    op = document["paths"]["/v1beta/properties/{property_id}:runReport"]["post"]
    assert op["responses"]["401"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


def test_schemathesis_reads_every_operation(document: dict[str, Any]) -> None:
    schema = schemathesis.openapi.from_dict(document)
    count = sum(1 for result in schema.get_all_operations() if result.ok())
    assert count == sum(len(item) for item in document["paths"].values())
