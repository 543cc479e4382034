"""google.iam.v1.IAMPolicy on topics, subscriptions and snapshots: the wire layer over
``policies.Policies``.

Policies are checked, stored, versioned by etag and removed with their resource, so setup code
that grants roles (a dead-letter topic's publisher role, say) runs unchanged. Nothing is
enforced: the emulator has no identities, so TestIamPermissions grants every permission asked
for.
"""

from __future__ import annotations

from typing import Any

from google.iam.v1 import iam_policy_pb2, policy_pb2
from google.protobuf import json_format

from emulators.pubsub.errors import invalid
from emulators.pubsub.rpc import Method, register

SERVICE = "google.iam.v1.IAMPolicy"


class IamServicer:
    """The wire layer: resolves the resource (NOT_FOUND, bad names) through the broker."""

    def __init__(self, broker: Any):
        self.broker = broker

    def _resource(self, name: str) -> str:
        kind = name.split("/")[2] if name.count("/") == 3 else ""
        lookup = {
            "topics": self.broker.topic,
            "subscriptions": self.broker.subscription,
            "snapshots": self.broker.snapshot,
        }.get(kind)
        if lookup is None:
            raise invalid(f"Invalid resource name given (name={name}).")
        lookup(name)  # raises NOT_FOUND, or INVALID_ARGUMENT for a bad name
        return name

    def SetIamPolicy(self, req: Any) -> Any:
        name = self._resource(req.resource)
        policy = json_format.MessageToDict(req.policy, preserving_proto_field_name=True)
        stored = self.broker.policies.set(name, policy, list(req.update_mask.paths))
        return _policy(stored)

    def GetIamPolicy(self, req: Any) -> Any:
        return _policy(self.broker.policies.get(self._resource(req.resource)))

    def TestIamPermissions(self, req: Any) -> Any:
        self._resource(req.resource)
        for permission in req.permissions:
            if "*" in permission:
                raise invalid(
                    f"Permissions with wildcards (such as '{permission}') are not allowed."
                )
        return iam_policy_pb2.TestIamPermissionsResponse(permissions=list(req.permissions))


def _policy(stored: dict[str, Any]) -> Any:
    return json_format.ParseDict(stored, policy_pb2.Policy())


REQUESTS = {
    "SetIamPolicy": iam_policy_pb2.SetIamPolicyRequest,
    "GetIamPolicy": iam_policy_pb2.GetIamPolicyRequest,
    "TestIamPermissions": iam_policy_pb2.TestIamPermissionsRequest,
}


def add_to_server(server: Any, broker: Any, faults: Any) -> IamServicer:
    servicer = IamServicer(broker)
    methods = {name: (getattr(servicer, name), cls.FromString) for name, cls in REQUESTS.items()}
    register(server, SERVICE, methods, faults)
    return servicer


def rest_methods(servicer: IamServicer) -> dict[str, Any]:
    """The same methods for the REST wire (rpc.Method by RPC name)."""
    return {
        name: Method(cls, lambda req, ctx, fn=getattr(servicer, name): fn(req))
        for name, cls in REQUESTS.items()
    }
