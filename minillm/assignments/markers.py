"""Solution regions: the lines between `### BEGIN SOLUTION` and `### END SOLUTION`.

The same two lines (nbgrader's) mark what a student writes, in the library's source and in
the notebooks' cells.  A student copy replaces each region by a stub:

    in a function     # YOUR CODE HERE
                      raise NotImplementedError("layernorm_forward is not written yet (assignment A3): ...")
    in a code cell    # YOUR CODE HERE
                      raise NotImplementedError("Exercise 3 of 06_self_attention.ipynb is not answered yet")
    in a markdown cell    YOUR ANSWER HERE

Everything outside the markers is kept as it is.
"""
import ast
import re

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
# the first words of every stub's message (English or Chinese): the grader reads "not_attempted" from them
NOT_WRITTEN = re.compile(r"^(\S+) (?:is not written yet \(assignment |尚未实现（作业 )(A\d+)")


def regions(lines, where):
    """[(begin, end)] line indices of the marker lines in `lines` (a list of str); `where` names the text."""
    found, begin = [], None
    for i, line in enumerate(lines):
        text = line.strip()
        if text == BEGIN:
            if begin is not None:
                raise ValueError(f"{where}, line {i + 1}: {BEGIN} inside another solution region (line {begin + 1})")
            begin = i
        elif text == END:
            if begin is None:
                raise ValueError(f"{where}, line {i + 1}: {END} without a {BEGIN} before it")
            found.append((begin, i))
            begin = None
    if begin is not None:
        raise ValueError(f"{where}, line {begin + 1}: {BEGIN} is never closed by {END}")
    return found


def functions(tree):
    """qualname -> FunctionDef node, for every function and method (nested ones by their dotted path)."""
    out = {}

    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.ClassDef)):
                name = prefix + child.name
                if isinstance(child, ast.FunctionDef):
                    out[name] = child
                walk(child, name + ".")

    walk(tree, "")
    return out


def source_regions(text, where):
    """qualname -> (begin, end) line indices of the one solution region inside that function."""
    lines = text.split("\n")
    found = functions(ast.parse(text))
    out = {}
    for begin, end in regions(lines, where):
        inside = [(fn.lineno - 1, name) for name, fn in found.items() if fn.lineno - 1 < begin < fn.end_lineno]
        if not inside:
            raise ValueError(f"{where}, line {begin + 1}: a solution region outside every function")
        name = max(inside)[1]                        # the innermost function: the one that starts last
        if name in out:
            raise ValueError(f"{where}: {name} has two solution regions; one per function")
        out[name] = (begin, end)
    return out


def _indent(line):
    return line[: len(line) - len(line.lstrip())]


def stub_source(text, stubs, where):
    """`text` with the region of each function in `stubs` (qualname -> message) replaced by a raise."""
    lines = text.split("\n")
    found = source_regions(text, where)
    missing = sorted(set(stubs) - set(found))
    if missing:
        raise ValueError(f"{where}: no solution region in {', '.join(missing)}")
    for name, (begin, end) in sorted(found.items(), key=lambda item: -item[1][0]):
        if name in stubs:
            indent = _indent(lines[begin])
            lines[begin:end + 1] = [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError({stubs[name]!r})"]
    return "\n".join(lines)


def stub_cell(cell_type, source, message):
    """A notebook cell's source with its solution regions stubbed (unchanged when it has none)."""
    lines = source.split("\n")
    for begin, end in reversed(regions(lines, "a notebook cell")):
        indent = _indent(lines[begin])
        if cell_type == "code":
            lines[begin:end + 1] = [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError({message!r})"]
        else:
            lines[begin:end + 1] = ["YOUR ANSWER HERE"]
    return "\n".join(lines)


def solution_lines(text, begin, end):
    """The code lines of a region, stripped, without blank lines and comments (what a stub must not keep)."""
    lines = text.split("\n")[begin + 1:end]
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
