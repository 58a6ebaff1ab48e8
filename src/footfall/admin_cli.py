"""``footfall account|property|stream|key|usage …``: the admin API from the command line.

Every command is one call to a running server's admin API (``--url``, ``--key`` or
``FOOTFALL_URL``/``FOOTFALL_KEY``), printing the JSON answer. ``footfall operator-key`` is the
one offline command: with the server stopped, it opens the store and mints a new operator key.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from collections.abc import Callable
from typing import Any

import httpx

Call = tuple[str, str, dict[str, Any] | None]  # method, path, JSON body
RESOURCES = ("account", "property", "stream", "key", "usage")


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def expires(value: str) -> str:
    """``30d``, ``12h`` or an ISO 8601 time, as ISO 8601."""
    if m := re.fullmatch(r"(\d+)([dh])", value):
        n, unit = int(m.group(1)), m.group(2)
        delta = dt.timedelta(days=n) if unit == "d" else dt.timedelta(hours=n)
        return (dt.datetime.now(dt.UTC) + delta).isoformat()
    return value


def client(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--url", help="the server (default FOOTFALL_URL or http://127.0.0.1:8000)")
    p.add_argument("--key", help="an admin key (default FOOTFALL_KEY)")
    return p


def add_arguments(sub: Any) -> None:
    _accounts(sub)
    _properties(sub)
    _streams(sub)
    _keys(sub)
    usage = client(sub.add_parser("usage", help="a property's usage per hour"))
    usage.add_argument("property_id")
    usage.add_argument("--start", help="ISO 8601 (default: 24 hours before --end)")
    usage.add_argument("--end", help="ISO 8601 (default: the end of this hour)")


def _accounts(sub: Any) -> None:
    account = sub.add_parser("account", help="accounts (merchants): create, list, update, revoke")
    a = account.add_subparsers(dest="action", required=True)
    client(a.add_parser("create")).add_argument("name")
    client(a.add_parser("list"))
    up = client(a.add_parser("update"))
    up.add_argument("account_id")
    up.add_argument("--name")
    up.add_argument("--enable", action="store_true")
    client(a.add_parser("revoke", help="disable the account")).add_argument("account_id")


def _properties(sub: Any) -> None:
    prop = sub.add_parser(
        "property", help="properties (sites and apps): create, list, update, revoke"
    )
    p = prop.add_subparsers(dest="action", required=True)
    for name in ("create", "update"):
        cmd = client(p.add_parser(name))
        cmd.add_argument("name" if name == "create" else "property_id")
        if name == "create":
            cmd.add_argument("--account", help="the account (needed with an operator key)")
        else:
            cmd.add_argument("--name")
        cmd.add_argument("--time-zone", dest="time_zone")
        cmd.add_argument("--currency")
        cmd.add_argument("--hostnames", type=_csv, help="allowed hostnames, comma-separated")
        cmd.add_argument("--hostname-policy", dest="hostname_policy", choices=["reject", "flag"])
        cmd.add_argument("--retention-days", dest="retention_days", type=int)
        cmd.add_argument("--key-events", dest="key_events", type=_csv)
    client(p.add_parser("list")).add_argument("--account")
    client(p.add_parser("show")).add_argument("property_id")
    client(p.add_parser("revoke", help="delete the property")).add_argument("property_id")


def _streams(sub: Any) -> None:
    stream = sub.add_parser("stream", help="data streams and their API secrets")
    s = stream.add_subparsers(dest="action", required=True)
    cmd = client(s.add_parser("create"))
    cmd.add_argument("property_id")
    cmd.add_argument("name")
    client(s.add_parser("list")).add_argument("property_id")
    cmd = client(s.add_parser("update"))
    cmd.add_argument("stream_id")
    cmd.add_argument("--name", required=True)
    client(s.add_parser("revoke", help="delete the stream")).add_argument("stream_id")
    cmd = client(s.add_parser("secret", help="create an API secret (shown once)"))
    cmd.add_argument("stream_id")
    cmd.add_argument("name")
    client(s.add_parser("secrets", help="list a stream's API secrets")).add_argument("stream_id")
    client(s.add_parser("revoke-secret")).add_argument("secret_id")


def _keys(sub: Any) -> None:
    key = sub.add_parser("key", help="API keys: create, list, update, revoke")
    k = key.add_subparsers(dest="action", required=True)
    cmd = client(k.add_parser("create"))
    cmd.add_argument("name")
    cmd.add_argument(
        "--scopes", type=_csv, required=True, help="read, write and/or admin, comma-separated"
    )
    cmd.add_argument("--account")
    cmd.add_argument(
        "--properties", type=_csv, default=[], help="bind to these properties (default: all)"
    )
    cmd.add_argument("--expires", type=expires, help="30d, 12h or an ISO 8601 time")
    cmd.add_argument("--operator", action="store_true", help="a key for the whole server")
    client(k.add_parser("list")).add_argument("--account")
    cmd = client(k.add_parser("update"))
    cmd.add_argument("key_id")
    cmd.add_argument("--name")
    cmd.add_argument("--scopes", type=_csv)
    cmd.add_argument("--expires", type=expires)
    client(k.add_parser("revoke")).add_argument("key_id")


def _drop_none(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


def _property_body(args: argparse.Namespace) -> dict[str, Any]:
    return _drop_none(
        {
            "time_zone": args.time_zone,
            "currency": args.currency,
            "allowed_hostnames": args.hostnames,
            "hostname_policy": args.hostname_policy,
            "retention_days": args.retention_days,
            "key_events": args.key_events,
        }
    )


CALLS: dict[tuple[str, str], Callable[[argparse.Namespace], Call]] = {
    ("account", "create"): lambda a: ("POST", "/v1/admin/accounts", {"name": a.name}),
    ("account", "list"): lambda a: ("GET", "/v1/admin/accounts", None),
    ("account", "update"): lambda a: (
        "PATCH",
        f"/v1/admin/accounts/{a.account_id}",
        _drop_none({"name": a.name, "disabled": False if a.enable else None}),
    ),
    ("account", "revoke"): lambda a: (
        "PATCH",
        f"/v1/admin/accounts/{a.account_id}",
        {"disabled": True},
    ),
    ("property", "create"): lambda a: (
        "POST",
        "/v1/admin/properties",
        {"name": a.name, **_drop_none({"account_id": a.account}), **_property_body(a)},
    ),
    ("property", "list"): lambda a: (
        "GET",
        "/v1/admin/properties" + (f"?account_id={a.account}" if a.account else ""),
        None,
    ),
    ("property", "show"): lambda a: ("GET", f"/v1/admin/properties/{a.property_id}", None),
    ("property", "update"): lambda a: (
        "PATCH",
        f"/v1/admin/properties/{a.property_id}",
        {**_drop_none({"name": a.name}), **_property_body(a)},
    ),
    ("property", "revoke"): lambda a: (
        "POST",
        f"/v1/admin/properties/{a.property_id}:delete",
        None,
    ),
    ("stream", "create"): lambda a: (
        "POST",
        f"/v1/admin/properties/{a.property_id}/streams",
        {"name": a.name},
    ),
    ("stream", "list"): lambda a: ("GET", f"/v1/admin/properties/{a.property_id}/streams", None),
    ("stream", "update"): lambda a: ("PATCH", f"/v1/admin/streams/{a.stream_id}", {"name": a.name}),
    ("stream", "revoke"): lambda a: ("POST", f"/v1/admin/streams/{a.stream_id}:delete", None),
    ("stream", "secret"): lambda a: (
        "POST",
        f"/v1/admin/streams/{a.stream_id}/secrets",
        {"name": a.name},
    ),
    ("stream", "secrets"): lambda a: ("GET", f"/v1/admin/streams/{a.stream_id}/secrets", None),
    ("stream", "revoke-secret"): lambda a: (
        "POST",
        f"/v1/admin/secrets/{a.secret_id}:revoke",
        None,
    ),
    ("key", "create"): lambda a: (
        "POST",
        "/v1/admin/keys",
        _drop_none(
            {
                "name": a.name,
                "scopes": a.scopes,
                "account_id": a.account,
                "property_ids": a.properties,
                "expires_at": a.expires,
                "operator": a.operator or None,
            }
        ),
    ),
    ("key", "list"): lambda a: (
        "GET",
        "/v1/admin/keys" + (f"?account_id={a.account}" if a.account else ""),
        None,
    ),
    ("key", "update"): lambda a: (
        "PATCH",
        f"/v1/admin/keys/{a.key_id}",
        _drop_none({"name": a.name, "scopes": a.scopes, "expires_at": a.expires}),
    ),
    ("key", "revoke"): lambda a: ("POST", f"/v1/admin/keys/{a.key_id}:revoke", None),
    ("usage", ""): lambda a: ("GET", f"/v1/admin/properties/{a.property_id}/usage", None),
}


def run(args: argparse.Namespace, url: str, key: str) -> int:
    if not key:
        print("footfall: an admin key is needed (--key or FOOTFALL_KEY)", file=sys.stderr)
        return 2
    method, path, body = CALLS[(args.command, getattr(args, "action", ""))](args)
    params = _drop_none({"start": getattr(args, "start", None), "end": getattr(args, "end", None)})
    try:
        r = httpx.request(
            method,
            url.rstrip("/") + path,
            json=body,
            params=params or None,
            timeout=60,
            headers={"authorization": f"Bearer {key}"},
        )
    except httpx.TransportError as exc:
        print(f"footfall: cannot reach {url}: {exc}", file=sys.stderr)
        return 1
    try:
        print(json.dumps(r.json(), indent=2))
    except ValueError:
        print(r.text)
    return 0 if r.is_success else 1
