"""The head-end: the place for the utility's metering head-end, which comes next.

Nothing lives here yet. The head-end will be a domain service like its neighbours -- no aiohttp,
only :class:`~balance_aggregator.storage.Storage` (and its grid store), the settings and the
metrics -- started and stopped by :class:`~balance_aggregator.vtn.Vtn` beside the notifiers and
the roll-up loop. Its HTTP endpoints, if any, go in a module of :mod:`balance_aggregator.http`
with a route table of its own; tables it needs go in :mod:`balance_aggregator.storage.schema`
as a new migration for both databases.
"""
