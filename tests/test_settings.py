"""Settings: defaults < TOML file < FOOTFALL_* environment < flags, failing fast with a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from footfall.cli import main
from footfall.settings import Settings, SettingsError, load_settings


def test_defaults() -> None:
    s = load_settings({}, environ={})
    assert (s.host, s.port, s.data_dir) == ("127.0.0.1", 8000, "./footfall-data")
    assert s.flush_interval <= 1.0
    assert s.queue_url.startswith("local://") and s.queue_url.endswith(
        "footfall-data/queue.sqlite3"
    )
    assert s.store_url.startswith("duckdb://") and s.store_url.endswith(
        "footfall-data/footfall.duckdb"
    )


def test_layers_in_order(tmp_path: Path) -> None:
    config = tmp_path / "footfall.toml"
    config.write_text('port = 7000\ndata_dir = "/srv/ff"\nflush_interval = 0.25\n')
    env = {"FOOTFALL_CONFIG": str(config), "FOOTFALL_PORT": "7001"}
    s = load_settings({"data_dir": "/flag"}, environ=env)
    assert s.port == 7001  # environment beats the file
    assert s.data_dir == "/flag"  # flags beat everything
    assert s.flush_interval == 0.25  # the file beats defaults
    assert s.store_url == "duckdb:///flag/footfall.duckdb"


def test_queue_and_store_are_chosen_by_url() -> None:
    s = load_settings({"queue": "memory://x", "store": "duckdb:///tmp/x.duckdb"}, environ={})
    assert (s.queue_url, s.store_url) == ("memory://x", "duckdb:///tmp/x.duckdb")


@pytest.mark.parametrize(
    ("flags", "env", "needle"),
    [
        ({}, {"FOOTFALL_PORT": "eighty"}, "FOOTFALL_PORT"),
        ({}, {"FOOTFALL_TRUST_FORWARDED_FOR": "yes"}, "trust_forwarded_for"),
        ({}, {"FOOTFALL_PROT": "1"}, "unknown environment variable FOOTFALL_PROT"),
        ({"port": 0}, {}, "port must be between"),
        ({"flush_interval": 0}, {}, "flush_interval"),
        ({"default_time_zone": "Mars/Olympus"}, {}, "IANA time zone"),
        ({"default_currency": "dollars"}, {}, "default_currency"),
        ({"queue": "redis://x"}, {}, "queue URL"),
        ({"store": "mysql://x"}, {}, "store URL"),
        ({"admin_key": "short"}, {}, "at least 24"),
        ({"geo_database": "/nope.mmdb"}, {}, "geo_database"),
    ],
)
def test_bad_settings_say_what_to_fix(
    flags: dict[str, object], env: dict[str, str], needle: str
) -> None:
    with pytest.raises(SettingsError, match=None) as info:
        load_settings(flags, environ=env)
    assert needle in str(info.value)


def test_bad_config_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("port = \n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings({}, environ={}, config_file=str(bad))
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("colour = 'blue'\n")
    with pytest.raises(SettingsError, match="unknown setting"):
        load_settings({}, environ={}, config_file=str(unknown))
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings({}, environ={}, config_file=str(tmp_path / "missing.toml"))


def test_cli_exits_with_the_message(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOOTFALL_PORT", "not-a-port")
    assert main(["serve"]) == 2
    assert "FOOTFALL_PORT" in capsys.readouterr().err


def test_every_setting_is_documented() -> None:
    docs = (Path(__file__).parent.parent / "docs" / "settings.md").read_text()
    for name in Settings.__struct_fields__:
        assert f"`{name}`" in docs, f"docs/settings.md does not describe {name}"
        assert f"FOOTFALL_{name.upper()}" in docs, (
            f"docs/settings.md does not name FOOTFALL_{name.upper()}"
        )
