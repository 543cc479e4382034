"""Packaging shim for Dataflow: ``--setup_file ./setup.py`` ships this project to the workers.

All metadata lives in pyproject.toml.
"""

from setuptools import setup

setup()
