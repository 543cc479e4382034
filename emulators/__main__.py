"""Deprecated alias: ``python -m emulators up|down|env|status`` is now ``python -m harness ...``.

Run through runpy so that the emulators package itself never imports the harness.
"""

import runpy
import sys

print(
    "note: `python -m emulators` is now `python -m harness`; the alias goes in the next release",
    file=sys.stderr,
)
runpy.run_module("harness", run_name="__main__", alter_sys=True)
