"""The one error the VTN's services raise to a client: an RFC 7807 problem.

It carries an HTTP status because the OpenADR API is HTTP, but it needs no web framework: the
services raise it, the handlers of :mod:`balance_aggregator.http` turn it into a response body.
"""

from __future__ import annotations


class Problem(Exception):
    """An RFC 7807 problem, the spec's error body."""

    def __init__(self, status: int, title: str, detail: str | None = None) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
