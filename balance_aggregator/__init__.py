"""BALANCE utility aggregator: an OpenADR 3.1.0 VTN that collects house data and broadcasts DR."""

from __future__ import annotations

__version__ = "0.1.0"
