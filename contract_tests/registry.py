"""The published contract: one JSON Schema file per version in ``contract_tests/schemas/``.

``event-<version>.json`` is generated from :func:`pipeline.schema.event_json_schema` and
``event-<version>.avsc`` (its Avro form, see :mod:`contract_tests.avro`) beside it. Only the
current version is regenerated; files of older versions are frozen history. The committed
``.json`` files are the registry of published versions.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from contract_tests import avro
from pipeline import schema

SCHEMA_DIR = Path(__file__).parent / "schemas"
_FILE = re.compile(r"event-(\d+(?:\.\d+)*)\.json")


def file_name(version: str) -> str:
    return f"event-{version}.json"


def version_key(version: str) -> tuple[int, ...]:
    """Sort key of a dotted version (``"1.10"`` after ``"1.9"``)."""
    return tuple(int(part) for part in version.split("."))


def render(version: str = schema.CONTRACT_VERSION) -> str:
    """The exact text of the published schema file of ``version``."""
    return json.dumps(schema.event_json_schema(version), indent=2, ensure_ascii=False) + "\n"


def avro_file_name(version: str) -> str:
    return f"event-{version}.avsc"


def generated(version: str = schema.CONTRACT_VERSION) -> dict[str, str]:
    """File name -> exact text of every published file of ``version``."""
    return {file_name(version): render(version), avro_file_name(version): avro.render(version)}


def export(out_dir: Path = SCHEMA_DIR, version: str = schema.CONTRACT_VERSION) -> list[Path]:
    """Write the generated files of ``version`` into ``out_dir``; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generated(version).items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def published_versions(schema_dir: Path = SCHEMA_DIR) -> list[str]:
    """Versions with a committed schema file, oldest first."""
    found = [m.group(1) for p in schema_dir.glob("event-*.json") if (m := _FILE.fullmatch(p.name))]
    return sorted(found, key=version_key)


def load(version: str, schema_dir: Path = SCHEMA_DIR) -> dict:
    """The published JSON Schema of ``version``; ``KeyError`` if it was never published."""
    path = schema_dir / file_name(version)
    if not path.is_file():
        raise KeyError(f"contract version {version} is not published (no {path.name})")
    return json.loads(path.read_text(encoding="utf-8"))


def drift(schema_dir: Path = SCHEMA_DIR) -> list[str]:
    """Why the committed files of the current version differ from the generator (empty: none)."""
    problems = []
    for name, text in generated().items():
        path = schema_dir / name
        if not path.is_file():
            problems.append(f"{path} is missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{path} differs from what pipeline/schema.py generates")
    return problems
