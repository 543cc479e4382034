"""``plan`` (what differs between the spec and the target), ``apply`` and ``destroy``.

Library use (what ``python -m harness up`` calls to provision the emulators)::

    from deploy import spec, plan
    from deploy.clients import Clients

    environment = spec.load("local", project=...)
    clients = Clients.for_emulators(environment.project, pubsub_host, bigquery_url)
    executed = plan.apply(environment, clients)     # a Plan; empty when nothing changed

There is no state file: ``plan`` reads every resource of the spec from the services, and finds
what to delete through the ``managed-by``/``environment`` labels ``apply`` puts on what it creates.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from deploy.clients import Clients
from deploy.resources import ORDER, Resource, desired
from deploy.services import Services
from deploy.spec import Spec

#: Resources that hold data: a protected environment never deletes or replaces them in `apply`.
DATA_TYPES = ("google_pubsub_subscription", "google_pubsub_topic", "google_bigquery_dataset",
              "google_bigquery_table", "google_storage_bucket")


class DeployError(RuntimeError):
    """``apply``/``destroy`` refused or failed; one sentence."""


@dataclass
class Change:
    """One resource to create, update in place, replace or delete."""

    action: str  # create | update | replace | delete
    resource: Resource
    diffs: list[tuple[str, object, object]] = field(default_factory=list)
    forces: list[str] = field(default_factory=list)  # the keys that force a replacement

    @property
    def address(self) -> str:
        return f"{self.resource.type}.{self.resource.short}"


@dataclass
class Plan:
    environment: str
    project: str
    target: str
    changes: list[Change] = field(default_factory=list)
    #: Terraform type -> (how many, why this target does not manage them)
    unmanaged: dict[str, tuple[int, str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.changes

    def counts(self) -> Counter:
        counted = Counter()
        for c in self.changes:
            if c.action == "replace":
                counted["create"] += 1
                counted["delete"] += 1
            else:
                counted[c.action] += 1
        return counted


def make_plan(spec: Spec, clients: Clients, destroy: bool = False) -> Plan:
    """Compare the spec with the target; ``destroy``: plan deleting what the spec owns."""
    services = Services(spec, clients)
    result = Plan(spec.name, spec.project, clients.target)
    wanted = [] if destroy else desired(spec)
    for r in wanted:
        why = services.unsupported(r.type)
        if why:
            count, _ = result.unmanaged.get(r.type, (0, why))
            result.unmanaged[r.type] = (count + 1, why)
            continue
        current = services.read(r)
        if current is None:
            result.changes.append(Change("create", r, [(k, None, v) for k, v in r.props.items()]))
            continue
        diffs = [(k, current.get(k), v) for k, v in r.props.items() if current.get(k) != v]
        if diffs:
            forces = services.forces_replacement(r, current)
            result.changes.append(Change("replace" if forces else "update", r, diffs, forces))
    names = {(r.type, r.name) for r in wanted}
    doomed = set()
    for type_ in ORDER:
        if type_.endswith("_iam_member") or services.unsupported(type_):
            continue
        for name in services.owned(type_):
            if (type_, name) not in names:
                doomed.add((type_, name))
                result.changes.append(Change("delete", Resource(type_, name)))
    # bindings of managed members the spec does not compute, on resources that stay
    for r in wanted:
        if (r.type, r.name) in doomed or services.unsupported(r.type):
            continue
        for member in services.members(r):
            if (member.type, member.name) not in names:
                result.changes.append(Change("delete", member))
    return result


def apply(spec: Spec, clients: Clients, allow_destroy: bool = False) -> Plan:
    """Make the target match the spec; returns what was done (empty: it already matched).

    Order: resources created and updated (topics before subscriptions, datasets before tables),
    then IAM planned afresh (a replaced resource lost its policy) and applied, then deletions in
    reverse order. A protected environment refuses to delete or replace a resource that holds
    data unless ``allow_destroy``.
    """
    first = make_plan(spec, clients)
    _refuse_data_loss(spec, first, allow_destroy)
    services = Services(spec, clients)
    done = Plan(spec.name, spec.project, clients.target, unmanaged=first.unmanaged)
    resource_changes = [c for c in first.changes if not c.resource.type.endswith("_iam_member")]
    for change in sorted((c for c in resource_changes if c.action != "delete"),
                         key=lambda c: ORDER.index(c.resource.type)):
        _execute(services, change)
        done.changes.append(change)
    for change in make_plan(spec, clients).changes:
        if change.resource.type.endswith("_iam_member"):
            _execute(services, change)
            done.changes.append(change)
    for change in sorted((c for c in resource_changes if c.action == "delete"),
                         key=lambda c: -ORDER.index(c.resource.type)):
        _execute(services, change)
        done.changes.append(change)
    return done


def destroy(spec: Spec, clients: Clients, allow_protected: bool = False) -> Plan:
    """Delete every resource this environment owns on the target (the labelled ones)."""
    if spec.protected and not allow_protected:
        raise DeployError(f"environment {spec.name} is protected: destroy needs --i-know")
    doomed = make_plan(spec, clients, destroy=True)
    services = Services(spec, clients)
    for change in sorted(doomed.changes, key=lambda c: -ORDER.index(c.resource.type)):
        _execute(services, change)
    return doomed


def _refuse_data_loss(spec: Spec, planned: Plan, allow_destroy: bool) -> None:
    if not spec.protected or allow_destroy:
        return
    risky = [c.address for c in planned.changes
             if c.action in ("delete", "replace") and c.resource.type in DATA_TYPES]
    if risky:
        raise DeployError(f"environment {spec.name} is protected and this apply would delete or "
                          f"replace {', '.join(risky)}: review the plan, then pass --i-know")


def _execute(services: Services, change: Change) -> None:
    r = change.resource
    if change.action == "create":
        services.create(r)
    elif change.action == "update":
        services.update(r, [k for k, _, _ in change.diffs])
    elif change.action == "replace":
        services.delete(r)
        services.create(r)
    elif change.action == "delete":
        services.delete(r)


# -- output ----------------------------------------------------------------------------------

_SIGN = {"create": "+", "update": "~", "replace": "-/+", "delete": "-"}
_VERB = {"create": "will be created", "update": "will be updated in-place",
         "replace": "must be replaced", "delete": "will be destroyed"}


def _value(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def render(plan: Plan, title: str = "plan") -> str:
    """Terraform-like text: one block per change, then the counts and what is not managed."""
    lines = [f"deploy {title}: environment {plan.environment}, project {plan.project}, "
             f"target {plan.target}", ""]
    for c in plan.changes:
        r = c.resource
        note = f" ({', '.join(c.forces)} forces replacement)" if c.forces else ""
        lines.append(f"  # {c.address} {_VERB[c.action]}{note}")
        lines.append(f"{_SIGN[c.action]:>3} resource \"{r.type}\" \"{r.short}\" {{")
        if r.type.endswith("_iam_member"):
            resource, role, member = r.name.split(" ")
            for key, value in (("resource", resource), ("role", role), ("member", member)):
                lines.append(f"      {_SIGN[c.action][-1]} {key:<28} = {_value(value)}")
        elif c.action == "delete":
            lines.append(f"      - name {'':<24} = {_value(r.name)}")
        else:
            if c.action == "create":
                lines.append(f"      + name {'':<24} = {_value(r.name)}")
            for key, before, after in c.diffs:
                if c.action == "create":
                    lines.append(f"      + {key:<28} = {_value(after)}")
                else:
                    mark = " # forces replacement" if key in c.forces else ""
                    lines.append(f"      ~ {key:<28} = {_value(before)} -> {_value(after)}{mark}")
        lines.append("    }")
        lines.append("")
    counts = plan.counts()
    if plan.empty:
        lines.append("No changes. The target matches the spec.")
    else:
        lines.append(f"Plan: {counts['create']} to add, {counts['update']} to change, "
                     f"{counts['delete']} to destroy.")
    if plan.unmanaged:
        lines.append("")
        lines.append("Not managed on this target:")
        for type_, (count, why) in sorted(plan.unmanaged.items()):
            lines.append(f"  {type_} ({count}): {why}")
    return "\n".join(lines) + "\n"
