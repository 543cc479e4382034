"""Helpers for the container tests: what the Docker engine runs."""

from __future__ import annotations

import subprocess

from harness import images


def emulator_containers() -> set[str]:
    """Ids of every container (running or not) of our emulator images."""
    filters = [arg for tag in images.EMULATOR_IMAGES.values()
               for arg in ("--filter", f"ancestor={tag}")]
    out = subprocess.run(["docker", "ps", "-aq", *filters], capture_output=True, text=True,
                         check=True)
    return set(out.stdout.split())
