"""`minillm assignment check`: grade the functions a workspace asks the student to write.

For every graded function, in the order of their `needs` (minillm.assignments.sets):

    blocked        a function it calls is not passing yet: it is not run
    not_attempted  it still raises the stub's NotImplementedError
    fail           an output or gradient is off (the worst element is reported), a check of
                   behaviour failed (a causal leak, NaN in a fully masked row), or it raised
    pass           every value within 1e-6 of the values stored at make time, and every
                   gradient within 1e-6 of central differences of the student's own forward

Relative error, element by element, as minillm.gradcheck scores it:
    |a - b| / max(1e-8, |a| + |b|)      (at most 1; NaN or inf where a finite value is due counts as 1)
against central differences, an absolute difference up to ROUND_OFF counts as agreement.
"""
import ast
import importlib
import json
import traceback
from pathlib import Path

import numpy as np

from minillm.assignments.cases import CASES, Gradients, Property, Values
from minillm.assignments.markers import NOT_WRITTEN, functions
from minillm.assignments.sets import FUNCTIONS, SET_OF, closure

THRESHOLD = 1e-6
# A central difference with h = 1e-5 in float64 is off by about eps |L| / h ~ 1e-10 absolute: where the true
# gradient is 0 (a key bias: softmax ignores a constant shift) the relative score would measure only that.
ROUND_OFF = 1e-9
WORKSPACE_FILE = Path("assignment") / "workspace.json"
EXPECTED_FILE = Path("assignment") / "expected.npz"


SEP = " :: "


def key(name, case, label):
    """The name of one stored array: function, case and label (none of them contains SEP)."""
    return SEP.join((name, case, label))


# ------------------------------------------------------------------ comparing two arrays
def worst(got, expected, scale="element", atol=0.0):
    """(relative error, index) of the worst element of `got` against `expected` (NaN in expected = unchecked).

    atol: differences up to atol count as agreement (the round-off of a central difference).
    """
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    checked = ~np.isnan(expected)
    with np.errstate(invalid="ignore"):
        same = (got == expected) | ~checked | (np.abs(got - expected) <= atol)   # equal infinities (log 0) too
    size = np.abs(got) + np.abs(expected)
    if scale == "tensor":
        finite = np.isfinite(size) & checked
        size = np.full(size.shape, size[finite].max() if finite.any() else 0.0)
    with np.errstate(invalid="ignore"):
        ratio = np.abs(got - expected) / np.maximum(1e-8, size)
    ratio = np.where(same, 0.0, np.where(np.isfinite(ratio), ratio, 1.0))
    if ratio.size == 0:
        return 0.0, ()
    index = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    return float(ratio[index]), tuple(int(i) for i in index)


class Verdict:
    """What one graded function earned: its status and the worst number seen, with where it was."""

    def __init__(self, name):
        self.name, self.status, self.detail = name, "pass", {}
        self.worst_rel_error, self.worst_index, self.worst_of = 0.0, None, None

    def see(self, rel, index, what):
        if self.worst_of is None or rel > self.worst_rel_error:
            self.worst_rel_error, self.worst_index, self.worst_of = rel, list(index), what
        if rel > THRESHOLD:
            self.status = "fail"

    def fail(self, message):
        self.status = "fail"
        self.detail.setdefault("failures", []).append(message)

    def report(self):
        g = FUNCTIONS[self.name]
        out = {"status": self.status, "set": SET_OF[self.name], "worst_rel_error": self.worst_rel_error,
               "worst_index": self.worst_index, "worst_of": self.worst_of, **self.detail}
        if self.status == "fail":
            out["hint"] = f"{g.formula}  (see {g.section})"
        elif self.status == "not_attempted":
            out["hint"] = f"write the body marked YOUR CODE HERE in {g.module.replace('.', '/')}.py ({g.regions[0]})"
        return out


def _compare(verdict, got, expected, case, scale="element", kind="output", atol=0.0):
    """See every label of `got` against expected[label] (labels absent there are not compared)."""
    for label, value in got.items():
        if label not in expected:
            continue                                          # not differentiated (an integer input)
        want = expected[label]
        what = f"{kind} {label}, case '{case}'"
        if np.shape(value) != np.shape(want):
            verdict.fail(f"{what}: shape {np.shape(value)}, expected {np.shape(want)}")
            verdict.see(1.0, (), what)
            continue
        verdict.see(*worst(value, want, scale, atol), what)


def _stub_name(error):
    """The graded function whose stub raised `error`, or None if it is not a stub's NotImplementedError."""
    match = NOT_WRITTEN.match(str(error)) if isinstance(error, NotImplementedError) else None
    return match.group(1) if match else None


def _where(error):
    """file:line of the innermost frame of the workspace's own minillm code in the traceback."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "minillm" in f.filename]
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"


def _run_cases(verdict, name, expected, stored_keys):
    """Every case of `name`: its behaviour checks, its stored values, and for a backward, central differences."""
    for case in CASES[name]():
        if isinstance(case, Property):
            message = case.check()
            if message:
                verdict.fail(f"case '{case.case}': {message}")
            continue
        got = case.run()
        missing = [k for k in stored_keys.get((name, case.case), []) if k not in got]
        for label in missing:
            verdict.fail(f"case '{case.case}': the output {label} is missing")
        present = {k: v for k, v in got.items() if key(name, case.case, k) in expected}
        for label in sorted(set(got) - set(present)):
            verdict.fail(f"case '{case.case}': {label} is returned, but the reference returns nothing there "
                         f"(None for a missing bias)")
        kind = "gradient" if isinstance(case, Gradients) else "output"
        stored = {label: expected[key(name, case.case, label)] for label in present}
        _compare(verdict, present, stored, case.case, kind=kind)
        if isinstance(case, Gradients) and case.numerical is not None and verdict.status != "fail":
            _compare(verdict, present, case.numerical(), case.case, scale=case.scale,
                     kind="gradient (vs central differences)", atol=ROUND_OFF)


def grade_function(name, expected, stored_keys):
    """The Verdict of one function; `expected`: the stored arrays by key(), run every case."""
    verdict = Verdict(name)
    try:
        with np.errstate(all="ignore"):                       # NaN and overflow are graded, not warned about
            _run_cases(verdict, name, expected, stored_keys)
    except Exception as error:                               # the student's code raised: report, never crash
        stub = _stub_name(error)
        if stub == name:
            verdict.status = "not_attempted"
        elif stub is not None:
            verdict.status, verdict.detail["blocked_by"] = "blocked", [stub]
        else:
            verdict.fail(f"raised {type(error).__name__}: {error} (at {_where(error)})")
    return verdict


def still_stubbed(name):
    """True while one of `name`'s marked bodies is still the stub `make` wrote (read from the source)."""
    g = FUNCTIONS[name]
    path = Path(importlib.import_module(g.module).__file__)
    nodes = functions(ast.parse(path.read_text(encoding="utf-8")))
    own = nodes.get(name)
    for qualname in g.regions:
        if qualname not in nodes or not _raises_stub(nodes[qualname], name):
            continue
        if qualname == name:
            return True
        # the stub sits in a helper (the cell of a step function): stubbed while the function still calls it
        helper = qualname.split(".")[-1]
        if own is None or any(isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", None)) == helper
                              for n in ast.walk(own)):
            return True
    return False


def _raises_stub(node, name):
    for stmt in ast.walk(node):
        if (isinstance(stmt, ast.Raise) and isinstance(stmt.exc, ast.Call) and stmt.exc.args
                and isinstance(stmt.exc.args[0], ast.Constant) and isinstance(stmt.exc.args[0].value, str)):
            match = NOT_WRITTEN.match(stmt.exc.args[0].value)
            if match and match.group(1) == name:
                return True
    return False


def grade(workspace_functions, report_functions, expected):
    """{name: report dict} for report_functions, grading what they need (of workspace_functions) first."""
    assigned = set(workspace_functions)
    stored_keys = {}
    for k in expected:
        name, case, label = k.split(SEP)
        stored_keys.setdefault((name, case), []).append(label)
    verdicts = {}

    def visit(name):
        if name in verdicts:
            return verdicts[name]
        unfinished = [n for n in FUNCTIONS[name].needs if n in assigned and visit(n).status != "pass"]
        if still_stubbed(name):
            verdict = Verdict(name)
            verdict.status = "not_attempted"
        elif unfinished:
            verdict = Verdict(name)
            verdict.status, verdict.detail["blocked_by"] = "blocked", unfinished
        else:
            verdict = grade_function(name, expected, stored_keys)
        verdicts[name] = verdict
        return verdict

    for name in sorted(closure(report_functions) & assigned, key=list(FUNCTIONS).index):
        visit(name)
    return {name: verdicts[name].report() for name in report_functions}


# ------------------------------------------------------------------ the workspace
def find_workspace(start):
    """The folder holding assignment/workspace.json: `start` or one of its parents."""
    start = Path(start).resolve()
    for folder in (start, *start.parents):
        if (folder / WORKSPACE_FILE).is_file():
            return folder
    raise ValueError(f"{start} is not inside an assignment workspace (no {WORKSPACE_FILE} here or above): "
                     f"run the check inside the folder `minillm assignment make` wrote")


def check_imports_from(workspace):
    """The grader must grade the workspace's code: minillm has to be imported from there."""
    import minillm

    package = Path(minillm.__file__).resolve().parent
    if package != (workspace / "minillm").resolve():
        raise ValueError(f"minillm is imported from {package}, not from this workspace ({workspace}): "
                         f"install the workspace with `pip install -e .` inside it, then check again")


def read_workspace(workspace, set_name=None):
    """(the workspace's functions, the ones to report, the stored values); a ValueError for what the user gave."""
    try:
        info = json.loads((workspace / WORKSPACE_FILE).read_text(encoding="utf-8"))
        functions = list(info["functions"])
        sets = list(info["sets"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{workspace / WORKSPACE_FILE} is damaged ({e}): make the workspace again") from None
    unknown = [n for n in functions if n not in FUNCTIONS]
    if unknown:
        raise ValueError(f"{workspace / WORKSPACE_FILE} names functions this grader does not know: {unknown}")
    if set_name is not None and set_name not in sets:
        raise ValueError(f"--set must be one of this workspace's sets ({', '.join(sets)}), got {set_name!r}")
    report_functions = [n for n in functions if set_name is None or SET_OF[n] == set_name]
    try:
        with np.load(workspace / EXPECTED_FILE, allow_pickle=False) as stored:
            expected = {k: stored[k] for k in stored.files}
    except (OSError, ValueError, EOFError) as e:
        raise ValueError(f"{workspace / EXPECTED_FILE} cannot be read ({e}): make the workspace again") from None
    return sets if set_name is None else [set_name], functions, report_functions, expected


def report_of(sets, functions, report_functions, expected):
    """The report dict: grade, then count."""
    results = grade(functions, report_functions, expected)
    passed = sum(r["status"] == "pass" for r in results.values())
    return {"sets": sets, "functions": results, "score": {"passed": passed, "total": len(results)}}


def format_report(report):
    """The report as the terminal shows it: one line per function, then the score."""
    lines = []
    width = max(len(n) for n in report["functions"]) if report["functions"] else 10
    for name, r in report["functions"].items():
        line = f"{r['set']}  {name:<{width}}  {r['status']:<13}"
        if r["status"] in ("pass", "fail") and r["worst_of"] is not None:
            line += f"  worst rel. error {r['worst_rel_error']:.1e} at {r['worst_index']} of {r['worst_of']}"
        if r.get("blocked_by"):
            line += f"  blocked by {', '.join(r['blocked_by'])}"
        lines.append(line)
        for failure in r.get("failures", []):
            lines.append(f"      {failure}")
        if r.get("hint"):
            lines.append(f"      hint: {r['hint']}")
    s = report["score"]
    lines.append(f"score: {s['passed']} / {s['total']} passed")
    return "\n".join(lines)


def class_table(reports):
    """(header, rows) of a class: one row per student ({student: --json report}), per set passed/total, then
    the total; a cell is "passed/total" of that set's functions."""
    sets = sorted({r.get("set", "?") for report in reports.values() for r in _functions_of(report).values()})
    rows = []
    for student, report in sorted(reports.items()):
        functions = _functions_of(report)
        row = [student]
        for s in sets:
            in_set = [r for r in functions.values() if r.get("set") == s]
            row.append(f"{sum(r.get('status') == 'pass' for r in in_set)}/{len(in_set)}" if in_set else "")
        row.append(f"{sum(r.get('status') == 'pass' for r in functions.values())}/{len(functions)}")
        rows.append(row)
    return ["student", *sets, "total"], rows


def _functions_of(report):
    if not isinstance(report, dict) or not isinstance(report.get("functions"), dict):
        raise ValueError("a report must be the JSON `minillm assignment check --json` writes, with a "
                         "\"functions\" object")
    return report["functions"]
