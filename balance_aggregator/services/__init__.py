"""The VTN's domain services, without aiohttp: what happens between a request and the storage.

- :mod:`.objects` builds and validates OpenADR objects, decides who sees what, writes them with
  their audit entry, readings and DR deliveries, and hands the operation to the notifications.
- :mod:`.notifications` fans an operation out over :mod:`.mqtt` and :mod:`.webhooks`.
- :mod:`.reports` reads hourly readings and DR answers out of a VEN's report.
- :mod:`.rollup` is the loop that stores the grid's balances of settled hours.
- :mod:`.headend` is the place of the metering head-end.
- :mod:`.kinds` is the table of object types, scopes and target hiding they share.
"""
