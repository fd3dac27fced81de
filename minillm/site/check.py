"""Check pages of the built site in a real browser: headless Chromium, from the distribution's packages.

For one page at one window size, `check_page` loads it from the file system and reports:
  * every console message (the pages print none, so any is an error: a failed load, a script error);
  * every request that leaves the local files (read from Chromium's own network log);
  * what the page's check (assets/check.js) found: side-by-side rows that do not hold, figures
    that did not load, text that still looks like raw TeX ($...$, \\frac);
and saves a screenshot (the same run).  An empty list of problems means the page passed.
"""
import json
import re
import shutil
import subprocess
import tempfile
from html import unescape
from pathlib import Path

WIDTHS = {"laptop": (1366, 768), "projector": (1920, 1080)}
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
QUIET = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
         "--disable-client-side-phishing-detection", "--disable-features=Translate,OptimizationHints,MediaRouter"]


def find_browser():
    """The path of a Chromium executable, or None."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(browser, args, url, timeout):
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([browser, *QUIET, f"--user-data-dir={profile}", *args, url], capture_output=True,
                              text=True, timeout=timeout)


def page_requests(netlog_path):
    """The URLs the page itself requested (Chromium's background requests carry no file:// isolation key)."""
    log = json.loads(Path(netlog_path).read_text(encoding="utf-8"))
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params", {})
        if event["type"] == start_job and "url" in params and params.get("network_isolation_key", "").startswith(
                "file://"):
            urls.append(params["url"])
    return urls


def check_page(path, width_name, screenshot, browser=None, timeout=60):
    """[problem, ...] of the page at `path` shown at WIDTHS[width_name]; writes a PNG to `screenshot`."""
    browser = browser or find_browser()
    if browser is None:
        raise FileNotFoundError("no Chromium found (apt-get install chromium): the browser check needs one")
    w, h = WIDTHS[width_name]
    url = Path(path).resolve().as_uri()
    problems = []
    Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        netlog = Path(tmp) / "net.json"
        done = _run(browser, [f"--window-size={w},{h}", f"--log-net-log={netlog}", "--enable-logging=stderr",
                              "--log-level=0", "--virtual-time-budget=5000", "--dump-dom",
                              f"--screenshot={Path(screenshot).resolve()}"], url, timeout)
        for line in done.stderr.splitlines():
            if ":CONSOLE" in line:
                problems.append(f"console: {line.split(']', 1)[-1].strip()}")
        for request in page_requests(netlog):
            if not request.startswith(("file:", "data:", "about:", "chrome:")):
                problems.append(f"network request: {request}")
    match = re.search(r'<body[^>]*data-check="([^"]*)"', done.stdout)
    if not match:
        problems.append("the page's check did not run (no data-check on <body>)")
    else:
        found = json.loads(unescape(match.group(1)))
        if found["broken_rows"]:
            problems.append(f"side by side breaks at {width_name} width in rows {found['broken_rows'][:5]}")
        if found["missing_images"]:
            problems.append(f"figures not shown: {found['missing_images'][:5]}")
        if found["untypeset"]:
            problems.append(f"untypeset math: {found['untypeset'][:3]}")
    if not Path(screenshot).is_file():
        problems.append("no screenshot was written")
    return problems
