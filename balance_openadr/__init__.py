"""OpenADR 3.1 on the client's side: the wire models, a VEN client, event and usage-report logic.

Both ends use it: the Home Assistant integration (a VEN) and the utility's aggregator (the VTN,
which validates what clients send with the same models). It imports nothing of either, so a
household never installs the utility's server; its third-party needs are aiohttp and aiomqtt for
the client and pydantic for the models.
"""

from __future__ import annotations
