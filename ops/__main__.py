"""``python -m ops check|export``: check the alert rules, or export them as Cloud Monitoring
AlertPolicy JSON.

    python -m ops check
    python -m ops export --project P --out alert-policies/ \\
        --var subscription=events-pipeline --var dataset=analytics --var events_table=events \\
        --var dead_letter_table=events_dlq --var job_name=events-pipeline \\
        --var alert_webhook=https://example.com/hook [--channel oncall=projects/P/notificationChannels/1]
"""

from __future__ import annotations

import argparse
import sys

from ops import rules as rules_module
from ops.rules import DEFAULT_RULES, RulesError


def _pairs(values: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise RulesError(f"{what} {item!r} must look like NAME=VALUE.")
        out[name] = value
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("check", "export"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--rules", default=str(DEFAULT_RULES), help="the rules file")
        cmd.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                         help="a ${NAME} of the rules file (repeatable)")
        if name == "export":
            cmd.add_argument("--project", required=True, help="the GCP project of the policies")
            cmd.add_argument("--out", required=True, help="directory for the JSON files")
            cmd.add_argument("--channel", action="append", default=[],
                             metavar="NAME=projects/P/notificationChannels/ID",
                             help="a created channel for a channel name of the rules")
    args = parser.parse_args(argv)
    try:
        variables = _pairs(args.var, "--var")
        if args.command == "check":
            # unknown variables are an error only when given; check with placeholders
            needed = rules_module.variables_of(args.rules)
            placeholders = {v: variables.get(v, f"{v}-placeholder") for v in needed}
            if "alert_webhook" in needed and "alert_webhook" not in variables:
                placeholders["alert_webhook"] = ""
            rules = rules_module.load(args.rules, placeholders)
            print(f"{args.rules}: {len(rules.rules)} rules, {len(rules.channels)} channels, "
                  "all valid")
            return 0
        variables.setdefault("project", args.project)
        missing = sorted(rules_module.variables_of(args.rules) - set(variables))
        if missing:
            raise RulesError(f"give --var for: {', '.join(missing)}.")
        rules = rules_module.load(args.rules, variables)
        from ops.export import export

        result = export(rules, args.project, args.out, _pairs(args.channel, "--channel"))
    except (RulesError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in result["written"]:
        print(f"wrote {path}")
    for note in result["skipped"]:
        print(f"left out {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
