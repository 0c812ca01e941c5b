"""`make demo`: Home Assistant, the DMesh simulator and the aggregator together (see __main__)."""
