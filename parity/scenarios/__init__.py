"""Parity scenarios: one module each, ``SERVICE`` + docstring + ``run(ctx)``."""
