"""The REST ingestion edge for load runs and benchmarks: one API key per sample source.

Keys travel to the Locust process as ``LOADTEST_REST_KEYS`` (``source=key,source=key``); the
edge's config file, holding only their hashes, is written next to its log.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from pipeline import samples


def write_config(directory: Path, sources=samples.SOURCES, rate: float = 0,
                 batching: dict | None = None) -> tuple[Path, dict[str, str]]:
    """An edge config with a fresh key per source; -> ``(path, {source: key})``."""
    from ingest.auth import KEY_PREFIX, hash_key

    keys = {source: KEY_PREFIX + secrets.token_urlsafe(24) for source in sources}
    lines = []
    if batching:
        lines.append("[batching]")
        lines += [f"{name} = {value}" for name, value in batching.items()]
    for source, key in keys.items():
        lines += ["[[sources]]", f'name = "{source}"', f'api_key_hashes = ["{hash_key(key)}"]']
        if rate:
            lines.append(f"rate = {rate}")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "ingest.toml"
    path.write_text("\n".join(lines) + "\n")
    return path, keys


def keys_to_env(keys: dict[str, str]) -> str:
    return ",".join(f"{source}={key}" for source, key in keys.items())


def keys_from_env(value: str) -> list[tuple[str, str]]:
    pairs = [item.split("=", 1) for item in value.split(",") if "=" in item]
    return [(source, key) for source, key in pairs]


def start_edge(topic: str, pubsub_host: str, directory: Path, **config):
    """The edge as a process on the given emulator: ``(ServerProcess, keys)``."""
    from harness.edge import start_rest

    path, keys = write_config(directory, **config)
    process = start_rest(topic, directory, config=path,
                         env={"PUBSUB_EMULATOR_HOST": pubsub_host})
    return process, keys
