"""Developer scripts: the demo (`python -m scripts.demo`)."""
