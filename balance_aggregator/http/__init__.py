"""The VTN over HTTP: one module per resource, each with its aiohttp handlers and route table.

- :mod:`.app` builds the application from the route tables and holds the middleware
  (authentication, rate limits, problem bodies, request metrics).
- :mod:`.common` has what handlers share: problems, scopes, paging, query parameters, JSON
  bodies, the token bucket; :mod:`.state` what one process's handlers are given.
- :mod:`.objects` has the search/create/read/update/delete handlers every object type binds:
  :mod:`.programs`, :mod:`.events`, :mod:`.reports`, :mod:`.subscriptions`, :mod:`.vens` (with
  resources).
- :mod:`.auth` (token endpoint), :mod:`.notifiers` (bindings, MQTT topics), :mod:`.health`
  (health, metrics), :mod:`.exports` (BL's /balance extensions, CSV).

The operator page (``/ui/``, ``/operator/api/``) is mounted from :mod:`balance_aggregator.operator`.
"""
