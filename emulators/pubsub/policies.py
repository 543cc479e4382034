"""IAM policies of topics, subscriptions and snapshots, as plain dicts (the model of iam.py)."""

from __future__ import annotations

import base64
import itertools
import re
from collections.abc import Callable
from typing import Any

from emulators.pubsub.errors import ApiError, invalid

# what Google's services answer for a resource nobody has set a policy on
EMPTY_ETAG = base64.b64decode("ACAB")
_MEMBER = re.compile(
    r"^(allUsers|allAuthenticatedUsers|"
    r"(user|serviceAccount|group|domain|principal|principalSet|deleted:user|"
    r"deleted:serviceAccount|deleted:group|projectOwner|projectEditor|projectViewer):.+)$"
)
_ROLE = re.compile(r"^(roles|(projects|organizations)/[^/]+/roles)/[A-Za-z0-9_.]+$")
_CONCURRENT = (
    "There were concurrent policy changes. Please retry the whole read-modify-write with "
    "exponential backoff."
)


class Policies:
    """Each resource's policy (a JSON-ready dict of ``google.iam.v1.Policy``), by name."""

    def __init__(self, store: Any):
        self.store = store
        self.by_name: dict[str, dict[str, Any]] = {}
        self._etags = itertools.count(1)

    def get(self, name: str) -> dict[str, Any]:
        return self.by_name.get(name) or {"etag": _b64(EMPTY_ETAG)}

    def set(self, name: str, policy: dict[str, Any], paths: list[str]) -> dict[str, Any]:
        current = self.get(name)
        if policy.get("etag") and policy["etag"] != current["etag"]:
            raise ApiError("ABORTED", _CONCURRENT)
        updated = {k: v for k, v in current.items() if k != "etag"}
        for path in paths or ["bindings", "etag"]:
            if path == "etag":
                continue
            if path not in ("bindings", "audit_configs"):
                raise invalid(f"Invalid update_mask path: {path}.")
            if path in policy:
                updated[path] = policy[path]
            else:
                updated.pop(path, None)
        for binding in updated.get("bindings", []):
            _check_binding(binding)
        # a policy with conditions is version 3; one without is version 1
        conditional = any("condition" in b for b in updated.get("bindings", []))
        updated["version"] = 3 if conditional else 1
        updated["etag"] = _b64(next(self._etags).to_bytes(8, "big"))
        self.by_name[name] = updated
        self.store.put("iam_policy", name, updated)
        return updated

    def drop(self, name: str) -> None:
        if self.by_name.pop(name, None) is not None:
            self.store.delete("iam_policy", name)

    def restore(self, saved: dict[str, dict[str, Any]], exists: Callable[[str], bool]) -> None:
        """Take the saved policies of resources that still exist."""
        for name, policy in saved.items():
            if exists(name):
                self.by_name[name] = policy
            else:
                self.store.delete("iam_policy", name)
        last = max(
            (int.from_bytes(base64.b64decode(p["etag"]), "big") for p in saved.values()), default=0
        )
        self._etags = itertools.count(last + 1)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _check_binding(binding: dict[str, Any]) -> None:
    role = binding.get("role", "")
    if not _ROLE.match(role):
        raise invalid(f"Role {role!r} is not a valid role name.")
    members = binding.get("members", [])
    if not members:
        raise invalid(f"The binding for role {role} has no members.")
    for member in members:
        if not _MEMBER.match(member):
            raise invalid(f"Invalid member {member!r} in the binding for role {role}.")
