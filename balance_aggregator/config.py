"""Settings: defaults, then a TOML file, then ``BALANCE_VTN_*`` environment variables."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ENV_PREFIX = "BALANCE_VTN_"


@dataclass(slots=True)
class Settings:
    #: sqlite:///path.db (embedded default) or postgresql://user@host/db[?schema=name]
    db: str = "sqlite:///balance-vtn.db"
    host: str = "127.0.0.1"
    port: int = 8080
    #: URL clients use to reach this VTN (behind a reverse proxy: its https URL); /auth/server
    #: answers with ``{public_url}/auth/token``. Empty: derived from the request.
    public_url: str = ""
    #: HS256 key for access tokens; every replica needs the same. Empty: one is generated once and
    #: kept in the database, so replicas sharing a database agree on it.
    token_secret: str = ""
    token_ttl_s: int = 3600
    #: MQTT broker the VTN publishes notifications to; empty host disables the MQTT notifier
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    mqtt_username: str = ""
    mqtt_password: str = ""
    #: URIs handed to clients by GET /notifiers (what they connect to, e.g. mqtts://broker:8883)
    mqtt_public_uris: list[str] = field(default_factory=list)
    #: ANONYMOUS or OAUTH2_BEARER_TOKEN (username "{clientID}", password = access token)
    mqtt_auth_method: str = "ANONYMOUS"
    #: prefix before every topic, so several VTNs (or test runs) can share one broker
    mqtt_topic_prefix: str = ""
    mqtt_qos: int = 1
    mqtt_retain: bool = False
    #: webhook callbacks must be https (the spec's rule) unless this is set (development)
    webhook_allow_http: bool = False
    #: callbacks to loopback/private addresses are refused (SSRF) unless listed here
    webhook_allowed_hosts: list[str] = field(default_factory=list)
    webhook_timeout_s: float = 10.0
    webhook_retries: int = 5
    webhook_backoff_s: float = 1.0
    #: requests per second and burst per client (token bucket, per replica)
    rate_limit_per_s: float = 50.0
    rate_limit_burst: int = 200
    log_level: str = "INFO"
    #: seconds between turns of the grid roll-up loop, which stores the hourly balance of every
    #: node for hours whose sums changed; 0 turns it off (balances are then read live)
    grid_rollup_interval_s: float = 60.0
    #: most hours rolled up in one turn (the newest first), so one turn stays short
    grid_rollup_max_hours: int = 48
    #: days of stored balances the loop keeps (older hours are dropped and read live): at two
    #: million meters a day is a million node-hours
    grid_rollup_keep_days: int = 45
    #: run the metering head-end inside ``serve`` (else: ``python -m balance_aggregator headend``,
    #: as many processes as wanted; they share the concentrators by leases)
    headend_in_serve: bool = False
    #: a concentrator whose head-end process died is taken over after this many seconds
    headend_lease_s: float = 15.0
    #: seconds between scheduled backlog catch-ups (besides every reconnect and every new hour)
    headend_catchup_s: float = 300.0
    #: backlog requests in flight per concentrator
    headend_fetch_concurrency: int = 8
    #: set each concentrator's clock on connect
    headend_sync_time: bool = True

    @classmethod
    def load(
        cls, path: str | Path | None = None, env: dict[str, str] | None = None, **overrides: Any
    ) -> Settings:
        values: dict[str, Any] = {}
        if path is not None:
            with Path(path).open("rb") as fh:
                data = tomllib.load(fh)
            values.update(data.get("vtn", data))
        environ = os.environ if env is None else env
        known = {f.name: f for f in fields(cls)}
        for name in known:
            raw = environ.get(ENV_PREFIX + name.upper())
            if raw is None:
                continue
            default = getattr(cls(), name)
            values[name] = _parse_env(raw, default)
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - set(known)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        return cls(**values)


def _parse_env(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, list):
        return [item.strip() for item in raw.split(",") if item.strip()]
    return raw
