"""Commands of ``python -m balance_aggregator`` beyond serving: the grid's and the demo's."""
