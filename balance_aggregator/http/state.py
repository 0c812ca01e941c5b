"""What the handlers of one VTN process share: settings, storage, services, tokens, limits."""

from __future__ import annotations

from dataclasses import dataclass

from balance_aggregator.auth import TokenIssuer
from balance_aggregator.config import Settings
from balance_aggregator.metrics import Metrics
from balance_aggregator.services.notifications import Notifications
from balance_aggregator.services.objects import ObjectService
from balance_aggregator.storage import Storage

from .common import TokenBucket


@dataclass(slots=True)
class AppState:
    settings: Settings
    storage: Storage
    metrics: Metrics
    objects: ObjectService
    notifications: Notifications
    limiter: TokenBucket
    #: the bearer-token issuer, there once the VTN has started (its key is in the database)
    tokens: TokenIssuer | None = None

    def issuer(self) -> TokenIssuer:
        if self.tokens is None:
            raise RuntimeError("the VTN is not started")
        return self.tokens
