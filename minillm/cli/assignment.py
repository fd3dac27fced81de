"""`minillm assignment list | make | check`: the course's workspaces and their grader."""
import json
import sys
from pathlib import Path

from minillm.cli.args import UserError, user_input


def add_assignment_parser(sub):
    p = sub.add_parser("assignment", help="course assignments: list the sets, make a workspace, grade it")
    commands = p.add_subparsers(dest="assignment_command", required=True)
    listed = commands.add_parser("list", help="print the sets A1-A7 and the functions of each")
    listed.set_defaults(func=cmd_list)
    made = commands.add_parser("make", help="write a copy of the project with the chosen sets' bodies stubbed")
    made.add_argument("out", help="the new workspace folder (must not exist, or be empty)")
    made.add_argument("--set", dest="sets", action="append", required=True, metavar="NAME",
                      help="a set to assign (A1 .. A7), repeatable; 'all' for every set")
    made.add_argument("--with-solutions", action="store_true",
                      help="keep the reference bodies (the teacher's copy; its check passes everything)")
    made.add_argument("--lang", choices=("en", "zh"), default="en",
                      help="zh: the stubs and the workspace's README in Chinese, pointing at notebooks/zh/")
    made.set_defaults(func=cmd_make)
    checked = commands.add_parser("check", help="grade the workspace the current folder is in")
    checked.add_argument("--set", dest="set_name", metavar="NAME", help="grade one set only")
    checked.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    checked.set_defaults(func=cmd_check)
    collected = commands.add_parser("report", help="one table of a class's --json reports (one file per student)")
    collected.add_argument("reports", nargs="+", metavar="FILE", help="the students' report files (name = student)")
    collected.add_argument("--csv", metavar="FILE", help="also write the table as CSV")
    collected.set_defaults(func=cmd_report)


def cmd_list(args):
    from minillm.assignments.sets import SETS
    from minillm.assignments.workspace import listing

    print(listing(SETS), end="")
    return 0


def cmd_make(args):
    from minillm.assignments.workspace import prepare, write_workspace

    with user_input(""):                                   # unknown set, OUT taken, not a clone: one line
        root, sets, out = prepare(args.out, args.sets, args.lang)
    try:
        out = write_workspace(root, sets, out, with_solutions=args.with_solutions, lang=args.lang)
    except OSError as e:
        raise UserError(f"OUT {args.out!r} cannot be written: {e}") from None
    kind = "teacher's copy (solutions kept)" if args.with_solutions else "student workspace"
    print(f"wrote {kind} for {', '.join(json.loads((out / 'assignment' / 'workspace.json').read_text())['sets'])} "
          f"to {out}")
    print(f"next: cd {out} && pip install -e '.[test]' && minillm assignment check")
    return 0


def cmd_check(args):
    from minillm.assignments.grader import check_imports_from, find_workspace, format_report, read_workspace, report_of
    from minillm.atomic import write_json_atomic

    with user_input(""):                                   # a wrong folder, install or --set: one line
        workspace = find_workspace(Path.cwd())
        check_imports_from(workspace)
        sets, functions, report_functions, expected = read_workspace(workspace, args.set_name)
    report = report_of(sets, functions, report_functions, expected)
    print(format_report(report))
    if args.json:
        try:
            write_json_atomic(args.json, report, indent=1)
        except OSError as e:
            raise UserError(f"--json {args.json!r} cannot be written: {e}") from None
    sys.stdout.flush()
    return 0 if report["score"]["passed"] == report["score"]["total"] else 1


def cmd_report(args):
    from minillm.assignments.grader import class_table

    with user_input(""):
        reports = {}
        for path in args.reports:
            try:
                reports[Path(path).stem] = json.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                raise UserError(f"report {path!r} cannot be read as a --json report: {e}") from None
        header, rows = class_table(reports)
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    for row in (header, *rows):
        print("  ".join(f"{str(x):<{w}}" for x, w in zip(row, widths)).rstrip())
    if args.csv:
        import csv
        import io

        from minillm.atomic import write_text_atomic

        buffer = io.StringIO()
        csv.writer(buffer).writerows([header, *rows])
        write_text_atomic(args.csv, buffer.getvalue())
    return 0
