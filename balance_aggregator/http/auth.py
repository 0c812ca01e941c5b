"""/auth: where the token endpoint is, and OAuth2 client credentials for bearer tokens."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from aiohttp import web

from balance_aggregator.auth import TokenError, verify_secret

from .common import Problem
from .state import AppState


def _auth_error(status: int, error: str, detail: str) -> web.Response:
    # the spec's 400/401 here are problem bodies; RFC 6749's "error" rides along
    return web.json_response(
        {
            "type": "about:blank",
            "title": error,
            "status": status,
            "detail": detail,
            "error": error,
            "error_description": detail,
        },
        status=status,
        headers={"WWW-Authenticate": "Basic"} if status == 401 else None,
    )


class AuthHandlers:
    def __init__(self, state: AppState) -> None:
        self.state = state

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/auth/server", self.server), web.post("/auth/token", self.token)]

    def _base_url(self, request: web.Request) -> str:
        if self.state.settings.public_url:
            return self.state.settings.public_url.rstrip("/")
        return f"{request.scheme}://{request.host}"

    async def server(self, request: web.Request) -> web.Response:
        return web.json_response({"tokenURL": self._base_url(request) + "/auth/token"})

    async def token(self, request: web.Request) -> web.Response:
        if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return _auth_error(
                400, "invalid_request", "the body must be application/x-www-form-urlencoded"
            )
        try:
            form = await request.post()
        except (ValueError, LookupError, AssertionError) as err:
            return _auth_error(400, "invalid_request", f"unreadable form: {err}")
        client_id = str(form.get("client_id", "") or "")
        secret = str(form.get("client_secret", "") or "")
        if request.headers.get("Authorization", "").lower().startswith("basic "):
            try:
                raw = base64.b64decode(request.headers["Authorization"][6:].strip()).decode()
            except (binascii.Error, UnicodeDecodeError) as err:
                raise Problem(400, "invalid_request", "malformed Basic credentials") from err
            user, _, password = raw.partition(":")
            client_id, secret = unquote(user), unquote(password)
        grant = form.get("grant_type")
        if grant is None or not client_id or not secret:
            return _auth_error(400, "invalid_request", "grant_type, client_id and secret")
        if grant != "client_credentials":
            return _auth_error(400, "unsupported_grant_type", "use client_credentials")
        client = await self.state.storage.get_client(client_id)
        if client is None or not verify_secret(secret, client.secret_hash):
            return _auth_error(401, "invalid_client", "unknown client or wrong secret")
        tokens = self.state.issuer()
        try:
            token, scope = tokens.issue(
                client.client_id, client.role, str(form.get("scope", "") or "") or None
            )
        except TokenError as err:
            return _auth_error(400, "invalid_scope", str(err))
        return web.json_response(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": tokens.ttl_s,
                "scope": scope,
            },
            headers={"Cache-Control": "no-store"},
        )


def routes(state: AppState) -> list[web.RouteDef]:
    return AuthHandlers(state).routes()
