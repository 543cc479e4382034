"""Parity runner: the same black-box scenarios on two targets, normalised, diffed and reported.

``python -m parity --a embedded --b google-emulator`` (see ``parity/README.md``).
"""
