"""The emulators' command lines: ``--help`` shows every option's default, and a mistake in a flag
is one sentence on stderr with exit code 2 (argparse would print the whole usage block first,
and a bad log level or port would end in a traceback)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class HelpFormatter(argparse.HelpFormatter):
    """argparse's ArgumentDefaultsHelpFormatter, but silent on defaults that say nothing (None,
    an empty list, a flag that is off) and on help that already states its default."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.option_strings and "%(default)" not in text and "(default" not in text and \
                action.default not in (None, False, [], argparse.SUPPRESS):
            text += " (default: %(default)s)"
        return text


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: ``error: <what> (<prog> --help)``, exit 2."""

    def __init__(self, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(**kwargs)

    def error(self, message):
        print(f"error: {message} ({self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def port(value: str) -> int:
    """A TCP port, 0 to 65535 (0: any free one)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{number} is not a port (0 to 65535; 0 picks a free one)")
    return number


def log_level(value: str) -> str:
    """A logging level name, any case: returned in upper case."""
    if value.upper() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a log level (one of {', '.join(LOG_LEVELS)})")
    return value.upper()


def seconds(value: str, allow_zero: bool = True) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if number != number or number < 0 or (number == 0 and not allow_zero) or \
            number == float("inf"):
        need = "positive" if not allow_zero else "zero or more"
        raise argparse.ArgumentTypeError(f"{value!r} must be {need} seconds")
    return number


def positive_seconds(value: str) -> float:
    return seconds(value, allow_zero=False)


def positive_int(value: str) -> int:
    """A whole number above zero."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be positive")
    return number


def http_url(value: str) -> str:
    """An ``http(s)://host[:port]`` URL."""
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{value!r} is not an http:// or https:// URL")
    return value


def check_data_dir(parser: argparse.ArgumentParser, data_dir: str | None) -> None:
    """``--data-dir`` must be (or become) a writable directory: else one sentence, exit 2."""
    if data_dir is None:
        return
    path = Path(data_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parser.error(f"argument --data-dir: {data_dir} cannot be created ({exc.strerror})")
    if not os.access(path, os.W_OK | os.X_OK):
        parser.error(f"argument --data-dir: {data_dir} is not writable")


def add_logging(parser: argparse.ArgumentParser, default: str, detail: str) -> None:
    """``--log-level`` and ``--log-format``, the same for every emulator."""
    parser.add_argument("--log-level", type=log_level, default=default, metavar="LEVEL",
                        help=f"{', '.join(LOG_LEVELS)} (any case); {detail}")
    parser.add_argument("--log-format", choices=("text", "json"), default="text",
                        help="log lines as text or JSON")

