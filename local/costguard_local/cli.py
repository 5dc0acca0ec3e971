"""`costguard` command line: local tools around the Lambda code (detector trials, idle scan, demo)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    from costguard_local import demo, detect_cmd, scan_cmd

    parser = argparse.ArgumentParser(prog="costguard", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    detect = sub.add_parser("detect", help="run the spend-spike detector causally over a CSV of daily costs")
    detect_cmd.add_arguments(detect)
    detect.set_defaults(run=detect_cmd.run)
    scan = sub.add_parser("scan", help="find idle resources in an AWS account (dry run unless --apply-tags)")
    scan_cmd.add_arguments(scan)
    scan.set_defaults(run=scan_cmd.run)
    demo_parser = sub.add_parser("demo", help="run the daily spend watch on embedded stand-ins (moto, Slack)")
    demo.add_arguments(demo_parser)
    demo_parser.set_defaults(run=demo.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
