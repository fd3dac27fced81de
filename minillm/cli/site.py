"""`minillm site OUT`: the reading edition (needs the site extra: pip install -e ".[site]")."""
from minillm.cli.args import UserError, user_input

# the pages the browser check opens: a layer, a model, one notebook of each edition
CHECKED = ("code/layers/attention.html", "code/models/gpt.html", "nb/06_self_attention.html",
           "nb/zh/06_self_attention.html")


def add_site_parser(sub):
    p = sub.add_parser("site", help="build the reading edition: code beside its typeset math, executed notebooks")
    p.add_argument("out", help="the folder to write the site to (executed notebooks are cached in OUT/.cache)")
    p.add_argument("--notebooks", nargs="+", metavar="NAME",
                   help="only these notebooks (stems such as 06_self_attention), both editions; default all")
    p.add_argument("--check", action="store_true",
                   help="then open a layer, a model and a notebook page of each edition in headless Chromium "
                        "at two widths; screenshots in OUT/screenshots")
    p.set_defaults(func=cmd_site)


def cmd_site(args):
    try:
        from minillm.site.build import build
    except ModuleNotFoundError as e:
        raise UserError(f"minillm site needs the site extra ({e.name} is missing): pip install -e \".[site]\"") from None
    from pathlib import Path

    from minillm.datasets.corpora import PROJECT_DIR

    with user_input("--notebooks"):
        known = {p.stem for p in (PROJECT_DIR / "notebooks").glob("*.ipynb")}
        unknown = sorted(set(args.notebooks or ()) - known)
        if unknown:
            raise ValueError(f"no notebook named {', '.join(unknown)} (the stems of notebooks/*.ipynb, e.g. "
                             f"06_self_attention)")
    build(args.out, notebooks=args.notebooks, log=lambda line: print(line, flush=True))
    if not args.check:
        print(f"open {Path(args.out) / 'index.html'} in a browser")
        return 0
    from minillm.site.check import WIDTHS, check_page, find_browser

    if find_browser() is None:
        raise UserError("--check needs Chromium (apt-get install chromium)")
    failed = 0
    for rel in CHECKED:
        if not (Path(args.out) / rel).is_file():
            print(f"check: {rel} was not built (pass its notebook to --notebooks)")
            continue
        for width in WIDTHS:
            shot = Path(args.out) / "screenshots" / f"{rel.replace('/', '_')[:-5]}-{width}.png"
            problems = check_page(Path(args.out) / rel, width, shot)
            failed += bool(problems)
            print(f"check: {rel} at {width} width: {'ok' if not problems else '; '.join(problems)}")
    return 1 if failed else 0
