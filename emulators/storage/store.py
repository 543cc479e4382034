"""gcp-storage-emulator's ``Storage`` with its metadata kept the way the stack needs it.

The library rewrites one ``.meta`` JSON document (every bucket and object) on each change, with
``indent=2`` (which disables the C encoder) and in place. That makes a write O(all objects) -
15 ms per upload with 300 objects, growing without bound - and a ``kill -9`` during the rewrite
leaves a truncated file that loses every object. :class:`DurableStorage` keeps the library's
format but skips the rewrite in memory mode (the dicts *are* the state there) and, with a data
directory, writes compact JSON to a temporary file, fsyncs it and renames it over ``.meta``:
the file on disk is always a complete earlier or later version, never a torn one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from gcp_storage_emulator import settings
from gcp_storage_emulator.storage import Storage

#: What ``Storage._read_config_from_file`` reads back (gcp-storage-emulator 2026.7).
METADATA_KEYS = ("buckets", "objects", "resumable", "bucket_iam_policies", "soft_deleted")

for _name in ("_write_config_to_file", "_read_config_from_file"):
    if _name not in vars(Storage):  # the overridden method moved: fail loudly, not subtly
        raise ImportError(
            f"gcp-storage-emulator has no Storage.{_name}; emulators.storage was written for "
            "gcp-storage-emulator 2026.7.x (pyproject pins that range)"
        )


class DurableStorage(Storage):
    """``Storage`` whose metadata writes are cheap in memory and atomic on disk."""

    def _write_config_to_file(self) -> None:
        if self._use_memory_fs:
            return
        data = {key: getattr(self, key) for key in METADATA_KEYS}
        path = Path(self._data_dir) / settings.STORAGE_DIR / ".meta"
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(".meta.tmp")
        with open(temporary, "wb") as handle:
            handle.write(json.dumps(data, separators=(",", ":")).encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
