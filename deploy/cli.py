"""``python -m deploy``: one environment spec for the emulators, staging and production.

    python -m deploy validate  --env NAME             load and check the spec
    python -m deploy plan      --env NAME             what apply would change
    python -m deploy apply     --env NAME             make it so (idempotent)
    python -m deploy destroy   --env NAME             delete what the spec owns
    python -m deploy iam       --env NAME [--check]   the computed bindings
    python -m deploy terraform --env NAME [--out DIR] Terraform JSON
    python -m deploy template  metadata|build         the Dataflow Flex Template

``--env local`` talks to the emulators in PUBSUB_EMULATOR_HOST / BIGQUERY_EMULATOR_HOST
(``eval "$(python -m harness env)"``). A ``gcp`` environment needs ``--project`` (the spec's
project id, said again) and ``--i-know-this-costs-money``; ``destroy`` of a protected
environment needs ``--i-know`` too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from deploy import spec as specs

COSTS_MONEY = "--i-know-this-costs-money"


class UsageError(Exception):
    """A mistake on the command line; one sentence, exit code 2."""


def _load(args) -> specs.Spec:
    environment = specs.load(args.env, args.environments)
    if environment.target == "gcp":
        if args.command in ("plan", "apply", "destroy"):
            if not args.project:
                raise UsageError(f"environment {args.env} is on Google Cloud: pass --project "
                                 f"{environment.project} {COSTS_MONEY} to touch it")
            if args.project != environment.project:
                raise UsageError(f"--project {args.project} is not the spec's project "
                                 f"{environment.project} (environments/{args.env}.toml)")
            if not args.i_know_this_costs_money:
                raise UsageError(f"{args.command} on Google Cloud needs {COSTS_MONEY}")
        return environment
    return environment.with_project(args.project)


def _clients(environment: specs.Spec):
    from deploy.clients import Clients

    if environment.target == "gcp":
        return Clients.for_gcp(environment.project)
    return Clients.from_environment(environment.project)


def cmd_validate(args) -> int:
    environment = _load(args)
    print(f"{args.env}: valid ({', '.join(environment.files)})")
    return 0


def _run(args, action, title: str) -> int:
    """Load the environment, run ``action(environment, clients)`` -> Plan, print it."""
    from deploy import plan

    environment = _load(args)
    if args.command == "destroy" and environment.protected and not args.i_know:
        raise UsageError(f"environment {args.env} is protected: destroy needs --i-know")
    clients = _clients(environment)
    try:
        print(plan.render(action(environment, clients), title), end="")
    finally:
        clients.close()
    return 0


def cmd_plan(args) -> int:
    from deploy import plan

    return _run(args, lambda e, c: plan.make_plan(e, c, destroy=args.destroy), "plan")


def cmd_apply(args) -> int:
    from deploy import plan

    return _run(args, lambda e, c: plan.apply(e, c, allow_destroy=args.i_know), "apply")


def cmd_destroy(args) -> int:
    from deploy import plan

    return _run(args, lambda e, c: plan.destroy(e, c, allow_protected=args.i_know), "destroy")


def cmd_iam(args) -> int:
    from deploy import iam

    environment = _load(args)
    found = iam.bindings(environment)
    if args.check:
        expected_path = iam.expected_file(args.env)
        if not expected_path.is_file():
            raise UsageError(f"no reviewed expectation file {expected_path}")
        have, want = {b.line() for b in found}, iam.parse(expected_path.read_text())
        for line in sorted(have - want):
            print(f"+ {line}")
        for line in sorted(want - have):
            print(f"- {line}")
        return 0 if have == want else 1
    print(iam.render(found), end="")
    return 0


def cmd_terraform(args) -> int:
    from deploy import terraform

    environment = _load(args)
    out = Path(args.out or f"build/terraform/{args.env}")
    for path in terraform.write(environment, out):
        print(path)
    return 0


def cmd_template(args) -> int:
    from deploy import template

    if args.action == "metadata":
        text = template.metadata_json()
        if args.check:
            if template.METADATA_FILE.read_text() != text:
                raise UsageError(f"{template.METADATA_FILE} is out of date: run python -m deploy "
                                 "template metadata --write")
            return 0
        if args.write:
            template.METADATA_FILE.write_text(text)
            print(template.METADATA_FILE)
        else:
            print(text, end="")
        return 0
    environment = _load(args) if args.env else None
    result = template.build(
        out=Path(args.out), base_image=args.base_image, tag=args.tag, environment=environment,
        wheels=Path(args.wheels) if args.wheels else None, image=not args.no_image,
    )
    for line in result.summary():
        print(line)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def env_command(name: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.add_argument("--env", required=True, help="environment name (environments/NAME.toml)")
        p.add_argument("--environments", default=str(specs.ENVIRONMENTS),
                       help="the folder of environment files")
        p.add_argument("--project", default=None,
                       help="emulators: use this project id instead; gcp: the spec's project "
                       "id, required as a confirmation")
        p.add_argument(COSTS_MONEY, action="store_true",
                       help="required to plan, apply or destroy on Google Cloud")
        p.add_argument("--i-know", action="store_true",
                       help="allow deleting or replacing data in a protected environment")
        return p

    env_command("validate", "load and check the environment spec")
    env_command("plan", "show what apply would change").add_argument(
        "--destroy", action="store_true", help="show what destroy would delete")
    env_command("apply", "make the target match the spec (idempotent)")
    env_command("destroy", "delete every resource this environment owns")
    iam_parser = env_command("iam", "print the computed IAM bindings")
    iam_parser.add_argument("--check", action="store_true",
                            help="compare with environments/expected/iam-NAME.txt")
    tf = env_command("terraform", "write Terraform JSON for the environment")
    tf.add_argument("--out", default=None, help="folder (default build/terraform/NAME)")
    tpl = sub.add_parser("template", help="the Dataflow Flex Template")
    tpl.add_argument("action", choices=("metadata", "build"))
    tpl.add_argument("--write", action="store_true", help="metadata: update the committed file")
    tpl.add_argument("--check", action="store_true", help="metadata: fail if it is out of date")
    tpl.add_argument("--env", default=None, help="build: also write the template spec for this "
                     "environment's image")
    tpl.add_argument("--environments", default=str(specs.ENVIRONMENTS))
    tpl.add_argument("--project", default=None)
    tpl.add_argument(COSTS_MONEY, action="store_true", help=argparse.SUPPRESS)
    tpl.add_argument("--i-know", action="store_true", help=argparse.SUPPRESS)
    tpl.add_argument("--out", default="build/template", help="build: output folder")
    tpl.add_argument("--base-image", default=None,
                     help="build: the launcher base image (default: Google's Python launcher)")
    tpl.add_argument("--tag", default="streambench-pipeline-launcher:local",
                     help="build: the image tag")
    tpl.add_argument("--wheels", default=None,
                     help="build: a folder of wheels already built (else pip wheel builds them)")
    tpl.add_argument("--no-image", action="store_true",
                     help="build: write wheels, metadata and spec only (no Docker)")
    args = parser.parse_args(argv)
    commands = {"validate": cmd_validate, "plan": cmd_plan, "apply": cmd_apply,
                "destroy": cmd_destroy, "iam": cmd_iam, "terraform": cmd_terraform,
                "template": cmd_template}
    from deploy.clients import TargetError
    from deploy.plan import DeployError
    from deploy.template import BuildError

    try:
        return commands[args.command](args)
    except specs.SpecError as exc:
        for line in exc.errors:
            print(f"error: {line}", file=sys.stderr)
        return 2
    except (UsageError, TargetError, DeployError, BuildError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a service's answer: one sentence, not a traceback
        from google.api_core.exceptions import GoogleAPIError

        if isinstance(exc, GoogleAPIError | OSError):
            print(f"error: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
            return 2
        raise
