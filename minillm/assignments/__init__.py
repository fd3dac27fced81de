"""Assignments: the reference's marked bodies become a course that students write and a grader checks.

    sets.py       the seven sets A1-A7: their functions, formulas, notebook sections, dependencies
    markers.py    the `### BEGIN SOLUTION` / `### END SOLUTION` regions, and the stubs that replace them
    cases.py      the inputs the grader feeds each function (deterministic on every machine)
    workspace.py  `minillm assignment make`: the student's (or teacher's) copy of the project
    grader.py     `minillm assignment check`: pass / fail / not_attempted / blocked, per function

docs/TEACHING.md is the teacher's page.
"""
