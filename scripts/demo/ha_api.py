"""Home Assistant's REST API, as the demo uses it: log in as the user, run config-entry flows.

Only what a person does in the UI, through the same endpoints the frontend calls, so the demo
configures BALANCE the way a user would (and fails where a user would).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, cast

JSON = dict[str, Any]


class HomeAssistantError(RuntimeError):
    """Home Assistant answered with something the demo did not expect."""


class HomeAssistantApi:
    request_timeout = 30.0
    """Seconds one request may take; a flow's first step may install requirements first."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.token: str | None = None

    def _request(
        self,
        method: str,
        path: str,
        body: JSON | None = None,
        *,
        form: dict[str, str] | None = None,
    ) -> Any:
        headers = {"Accept": "application/json"}
        data: bytes | None = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            self.base_url + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=self.request_timeout) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as err:
            detail = err.read().decode(errors="replace")[:500]
            raise HomeAssistantError(f"{method} {path}: HTTP {err.code}: {detail}") from err
        return json.loads(text) if text else None

    def wait_until_up(self, timeout: float) -> None:
        """HA answers its login providers once the HTTP server and auth are set up."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._request("GET", "/auth/providers")
                return
            except (OSError, HomeAssistantError) as err:
                if time.monotonic() > deadline:
                    raise HomeAssistantError(
                        f"Home Assistant did not answer within {timeout:.0f} s: {err}"
                    ) from err
                time.sleep(0.5)

    def login(self, username: str, password: str) -> None:
        """The login flow the frontend runs, then the authorization code for a token."""
        client_id = self.base_url + "/"
        flow = self._request(
            "POST",
            "/auth/login_flow",
            {"client_id": client_id, "handler": ["homeassistant", None], "redirect_uri": client_id},
        )
        result = self._request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            {"client_id": client_id, "username": username, "password": password},
        )
        if result.get("type") != "create_entry":
            raise HomeAssistantError(f"login refused: {result.get('errors')}")
        token = self._request(
            "POST",
            "/auth/token",
            form={
                "grant_type": "authorization_code",
                "code": result["result"],
                "client_id": client_id,
            },
        )
        self.token = cast(str, token["access_token"])

    # -- config entries

    def config_flow(self, handler: str, steps: list[JSON]) -> JSON:
        """Start a config flow and answer its steps in order; returns the created entry."""
        result = self._request("POST", "/api/config/config_entries/flow", {"handler": handler})
        return self._answer("/api/config/config_entries/flow", result, steps)

    def subentry_flow(self, entry_id: str, subentry_type: str, steps: list[JSON]) -> JSON:
        result = self._request(
            "POST",
            "/api/config/config_entries/subentries/flow",
            {"handler": [entry_id, subentry_type]},
        )
        return self._answer("/api/config/config_entries/subentries/flow", result, steps)

    def _answer(self, base: str, result: JSON, steps: list[JSON]) -> JSON:
        for answer in steps:
            if result.get("type") not in ("form", "menu"):
                break
            if result.get("errors"):
                raise HomeAssistantError(f"step {result['step_id']}: {result['errors']}")
            result = self._request("POST", f"{base}/{result['flow_id']}", answer)
        if result.get("type") != "create_entry":
            raise HomeAssistantError(f"flow did not create an entry: {result}")
        return result

    def options_flow(self, entry_id: str, steps: list[JSON]) -> JSON:
        result = self._request(
            "POST", "/api/config/config_entries/options/flow", {"handler": entry_id}
        )
        return self._answer("/api/config/config_entries/options/flow", result, steps)

    def menu_options(self, handler: str) -> list[str]:
        """What the first step of a config flow offers; the flow is then abandoned."""
        result = self._request("POST", "/api/config/config_entries/flow", {"handler": handler})
        self._request("DELETE", f"/api/config/config_entries/flow/{result['flow_id']}")
        return list(result.get("menu_options") or [])

    def entries(self, domain: str) -> list[JSON]:
        return cast(
            list[JSON], self._request("GET", f"/api/config/config_entries/entry?domain={domain}")
        )

    def wait_loaded(self, entry_id: str, timeout: float) -> None:
        """An options change reloads its entry; its next flow needs it loaded again."""
        deadline = time.monotonic() + timeout
        while True:
            states = {e["entry_id"]: e["state"] for e in self.entries_all()}
            if states.get(entry_id) == "loaded":
                return
            if time.monotonic() > deadline:
                raise HomeAssistantError(
                    f"entry {entry_id} is {states.get(entry_id)} after {timeout:.0f} s"
                )
            time.sleep(0.3)

    def entries_all(self) -> list[JSON]:
        return cast(list[JSON], self._request("GET", "/api/config/config_entries/entry"))

    # -- states and actions

    def states(self) -> list[JSON]:
        return cast(list[JSON], self._request("GET", "/api/states"))

    def wait_for_states(
        self, entity_ids: list[str], timeout: float, *, available: bool = True
    ) -> dict[str, JSON]:
        """Entities appear some time after their entry is created; wait for all of them."""
        deadline = time.monotonic() + timeout
        while True:
            found = {s["entity_id"]: s for s in self.states() if s["entity_id"] in entity_ids}
            ready = {
                e: s
                for e, s in found.items()
                if not available or s["state"] not in ("unavailable", "unknown")
            }
            if len(ready) == len(entity_ids):
                return ready
            if time.monotonic() > deadline:
                missing = sorted(set(entity_ids) - set(ready))
                raise HomeAssistantError(f"entities not ready after {timeout:.0f} s: {missing}")
            time.sleep(0.5)

    def call(self, domain: str, service: str, data: JSON, *, response: bool = False) -> Any:
        query = "?return_response" if response else ""
        return self._request("POST", f"/api/services/{domain}/{service}{query}", data)
