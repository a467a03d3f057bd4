"""Screenshots of the MLflow UI for docs/mlflow-ui.md, taken with headless Chromium.

    python docs/screenshots.py --store sqlite:///mlflow.db --out docs/img --prefix after

starts ``mlflow ui`` on the store (on 127.0.0.1, a free port), opens it in headless Chromium
and saves, for the experiment holding campaign runs (1280 x 720 window):

* ``<prefix>-runs-table.png``: the experiment's runs table, as it opens (classic runs view);
* ``<prefix>-campaigns.png``: the runs table filtered to campaign runs (``tags.spikefi.kind``),
  the comparing columns chosen, sorted by ``crit_rate`` (the Assistant pane closed, the left
  sidebar folded away);
* ``<prefix>-charts.png``, ``<prefix>-charts-acc_drop.png``: the same campaigns in the runs
  page's chart view, the charts filtered to ``crit_rate``, then to ``acc_drop``: one bar per
  campaign, side by side;
* ``<prefix>-compare.png``: the campaigns side by side (MLflow's compare-runs page);
* ``<prefix>-run.png``: one campaign run's page, its description opening with the result.

It checks what it shows and exits 1 when a page is not what a user should see (the GenAI
view instead of the runs table, a campaign missing, the table not sorted, a chart missing).
The store is only read. ``make demo`` (or ``python -m experiments.main``) makes a store to
photograph.

**Browser.** Playwright (``pip install 'spikefi[screenshots]'``, i.e. ``playwright==1.65.2``)
drives a Chromium that is already installed; ``playwright install`` (a browser download) is
not needed. The executable is ``--chromium PATH``, else the ``CHROMIUM`` environment variable,
else ``chromium`` / ``chromium-browser`` on PATH (Debian: ``apt-get install chromium`` gives
``/usr/bin/chromium``). It runs headless with ``--no-sandbox --disable-gpu --disable-quic``
and no first-run, background-networking, component-update or sync traffic, in a fresh
profile (Playwright's own temporary user-data dir). Exit code 2 when either is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

#: the URL parameter that opens MLflow 3's classic runs view (the experiment tag
#: mlflow.experimentKind=custom_model_development does where the UI has no GenAI/ML switch)
CLASSIC_VIEW = "workflowType=machine_learning"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_chromium(given: str | None) -> str | None:
    """The Chromium executable: given, ``CHROMIUM``, or chromium / chromium-browser on PATH."""
    for candidate in (given, os.environ.get("CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def start_ui(store: str, port: int) -> subprocess.Popen:
    """``mlflow ui`` on the store; returns once it answers (or raises)."""
    mlflow = Path(sys.executable).with_name("mlflow")
    cmd = [str(mlflow) if mlflow.is_file() else "mlflow", "ui", "--backend-store-uri", store, "--host", "127.0.0.1",
           "--port", str(port), "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow ui exited with {proc.returncode}: {proc.stdout.read()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            return proc
        except OSError:
            time.sleep(0.5)
    stop_ui(proc)
    raise RuntimeError("mlflow ui did not answer within 90 s")


def stop_ui(proc: subprocess.Popen) -> None:
    """Stops the server this script started (its own process group)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def campaign_runs(store: str) -> tuple[str, str, list[tuple[str, str]]]:
    """``(experiment id, experiment name, [(run id, run name)])`` of the experiment with the most
    finished campaign runs."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    best: tuple[str, str, list[tuple[str, str]]] | None = None
    for exp in client.search_experiments():
        runs = client.search_runs([exp.experiment_id], "tags.`spikefi.kind` = 'campaign' and "
                                  "attributes.status = 'FINISHED'", max_results=50, order_by=["attributes.start_time"])
        if runs and (best is None or len(runs) > len(best[2])):
            best = (exp.experiment_id, exp.name, [(r.info.run_id, r.info.run_name) for r in runs])
    if best is None:
        raise RuntimeError(f"no finished campaign run in {store} (run `make demo` first)")
    return best


def top_level_run(store: str, experiment_id: str) -> str:
    """The name of the latest top-level run of the experiment (what its runs table lists first)."""
    from mlflow.tracking import MlflowClient

    runs = MlflowClient(store).search_runs([experiment_id], order_by=["attributes.start_time DESC"], max_results=200)
    return next(r.info.run_name for r in runs if "mlflow.parentRunId" not in r.data.tags)


#: the columns that compare campaigns (docs/mlflow-ui.md); the table is sorted by the first
COLUMNS = ["crit_rate", "crit_ci_low", "crit_ci_high", "acc_drop", "fault.model", "fault.layers"]


def take(store: str, out: Path, prefix: str, chromium: str, width: int = 1280, height: int = 720,
         check: bool = True, columns: list[str] | None = None) -> dict[str, str]:
    """Takes the screenshots; returns ``{name: path}``. Raises AssertionError when a page is wrong."""
    from playwright.sync_api import sync_playwright

    exp_id, exp_name, runs = campaign_runs(store)
    columns = columns or COLUMNS
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    ui = start_ui(store, port)
    base = f"http://127.0.0.1:{port}/#"
    shots: dict[str, str] = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": width, "height": height})

            def shot(name: str, url: str, expect: list[str], settle: float = 2.0, click: tuple[str, ...] = ()) -> None:
                page.goto(url)
                page.wait_for_load_state("load")
                for text in expect:
                    try:
                        page.get_by_text(text, exact=False).first.wait_for(timeout=30000)
                    except Exception as exc:  # noqa: BLE001 - playwright's TimeoutError
                        if check:
                            raise AssertionError(f"{name}: {text!r} not shown within 30 s") from exc
                time.sleep(settle)  # let the table finish laying out
                path = out / f"{prefix}-{name}.png"
                dismiss(page)
                for text in click:  # fold sections away, switch a toggle
                    if page.get_by_text(text, exact=True).count():
                        page.get_by_text(text, exact=True).first.click()
                        time.sleep(1)
                page.screenshot(path=str(path), full_page=False)
                shots[name] = str(path)

            first_name = runs[0][1]
            top_name = top_level_run(store, exp_id)
            page.goto(f"{base}/experiments")
            page.wait_for_load_state("load")
            time.sleep(2)
            dismiss(page)
            # 1. the experiment as it opens from the link spikefi prints: the classic runs table, not the
            #    GenAI (traces) view ("before" shots: the bare link the old version printed)
            view = f"?{CLASSIC_VIEW}" if check else ""
            shot("runs-table", f"{base}/experiments/{exp_id}{view}", [exp_name] + ([top_name] if check else []))
            genai = "Observability" in page.inner_text("body")
            if not check and genai:  # an untagged experiment opens in the GenAI view: switch by hand
                dismiss(page)
                page.keyboard.press("Escape")
                page.get_by_text("Model training", exact=True).first.click(force=True)
                page.get_by_text(top_name, exact=True).first.wait_for(timeout=30000)
                time.sleep(2)
                path = out / f"{prefix}-runs-table-model-training.png"
                page.screenshot(path=str(path))
                shots["runs-table-model-training"] = str(path)
            if check:
                assert not genai, "the experiment opened in the GenAI view, not on its runs table"
            # 2. the campaigns side by side in the runs table: filtered by run kind, the sweep rows
            #    expanded, the columns that compare campaigns chosen (what docs/mlflow-ui.md tells)
            if not check and genai:
                page.goto(f"{base}/experiments/{exp_id}?{CLASSIC_VIEW}")
                page.get_by_text(top_name, exact=True).first.wait_for(timeout=30000)
            box = page.get_by_placeholder("metrics.rmse", exact=False).first
            box.fill("tags.`spikefi.kind` = 'campaign'")
            box.press("Enter")
            time.sleep(3)
            for _ in range(3):  # expand parents (a sweep; before: demo > sweep) until the campaigns show
                if page.get_by_text(first_name, exact=True).count():
                    break
                for button in page.locator("[role=row] button[class*='btn-link']:visible").all():
                    button.click()
                    time.sleep(2)
            fold_sidebar(page)  # 1280 px: the last column (fault.model) is cut off beside the sidebar
            choose_columns(page, columns)
            dismiss(page)
            if not sort_by(page, columns[0]) and check:
                raise AssertionError(f"the runs table could not be sorted by {columns[0]}")
            page.mouse.move(5, height - 5)  # no tooltip over the table
            page.get_by_text(first_name, exact=True).first.wait_for(timeout=30000)
            path = out / f"{prefix}-campaigns.png"
            page.screenshot(path=str(path))
            shots["campaigns"] = str(path)
            # 2b. the same runs as charts: the chart view, filtered to one metric's chart at a time
            #     (the critical-fault rate, then the mean accuracy drop: step 5 of docs/mlflow-ui.md)
            if chart_view(page, CHART_FILTERS[0]):
                for i, metric in enumerate(CHART_FILTERS):
                    if i:
                        chart_view(page, metric, switch=False)
                    dismiss(page)
                    page.mouse.move(5, height - 5)
                    name = "charts" if i == 0 else f"charts-{metric}"
                    path = out / f"{prefix}-{name}.png"
                    page.screenshot(path=str(path))
                    shots[name] = str(path)
                    if check:
                        body = page.inner_text("body")
                        missing = [n for _, n in runs if n not in body]
                        assert not missing, f"chart view: campaigns {missing} not shown"
                        assert "No metric charts" not in body, f"chart view: no chart of {metric}"
                toggle_view(page, "Table")
            elif check:
                raise AssertionError("the runs page has no chart view toggle")
            # 3. the campaigns side by side
            ids = json.dumps([r for r, _ in runs])
            shot("compare", f"{base}/compare-runs?runs={urllib.parse.quote(ids)}&experiments="
                            f"{urllib.parse.quote(json.dumps([exp_id]))}&{CLASSIC_VIEW}", [first_name], click=("Visualizations", "Run details", "Show diff only"))
            # 4. one campaign run with its description, whose first line is the result
            shot("run", f"{base}/experiments/{exp_id}/runs/{runs[0][0]}?{CLASSIC_VIEW}",
                 [first_name] + (["faults critical"] if check else []))
            browser.close()
    finally:
        stop_ui(ui)
    return shots


#: what the chart view's search box gets, one at a time (a substring, no regular expression): the
#: critical-fault rate's chart, then the mean accuracy drop's (docs/mlflow-ui.md, step 5)
CHART_FILTERS = ("crit_rate", "acc_drop")


def toggle_view(page: object, which: str) -> bool:
    """Switches the runs page between its table and chart views (``which``: ``Table`` or
    ``Chart``): the segmented control left of the search box; True when it was found."""
    radio = page.locator(f"label:has(input[type=radio][value={which.upper()}])")  # type: ignore[attr-defined]
    if radio.count():  # MLflow 3.17: a radio group of icons (runs-view-mode TABLE / CHART / ARTIFACT)
        radio.first.click()
        time.sleep(3)
        return True
    for name in (f"{which} view", which):
        for role in ("radio", "tab", "button"):
            control = page.get_by_role(role, name=name, exact=True)  # type: ignore[attr-defined]
            if control.count():
                control.first.click()
                time.sleep(2)
                return True
    return False


def chart_view(page: object, text: str, switch: bool = True) -> bool:
    """The chart view with only the charts whose metric name contains ``text`` (``switch``:
    switch from the table first); False when the page has no chart view."""
    if switch and not toggle_view(page, "Chart"):
        return False
    search = page.get_by_placeholder("Search metric charts", exact=False)  # type: ignore[attr-defined]
    if search.count():
        search.first.fill(text)
        time.sleep(2)
    return True


def sort_by(page: object, column: str) -> bool:
    """Sorts the runs table by ``column``, largest first: the *Sort* dropdown above the table
    (MLflow 3.17), else the column header's menu. True when the table is sorted by it."""
    dropdown = page.locator("[data-testid=sort-select-dropdown]")  # type: ignore[attr-defined]
    if dropdown.count():
        dropdown.first.click()
        time.sleep(1)
        page.get_by_placeholder("Search", exact=True).first.fill(column)  # type: ignore[attr-defined]
        time.sleep(1)
        # descending (the arrow beside the search box) is the default; the items are menu checkboxes
        item = page.locator(f"[data-testid='sort-select-{column}']")  # type: ignore[attr-defined]
        if not item.count():
            item = page.get_by_role("menuitemcheckbox", name=column, exact=True)  # type: ignore[attr-defined]
        if item.count():
            item.first.click()
            time.sleep(2)
        page.keyboard.press("Escape")  # type: ignore[attr-defined]
        time.sleep(0.5)
        return column in dropdown.first.inner_text()
    header = page.get_by_role("columnheader", name=column, exact=False)  # type: ignore[attr-defined]
    if not header.count():
        return False
    header.first.hover()
    menu = header.first.get_by_role("button")
    if menu.count():
        menu.last.click()
        time.sleep(0.5)
        for text in ("Sort descending", "Sort Descending"):
            item = page.get_by_text(text, exact=True)  # type: ignore[attr-defined]
            if item.count():
                item.first.click()
                time.sleep(1.5)
                return True
    page.keyboard.press("Escape")  # type: ignore[attr-defined]
    return False


def choose_columns(page: object, names: list[str]) -> None:
    """Shows the columns ``names`` (metrics and params) and hides Dataset, Source and Models."""
    page.get_by_role("button", name="Columns").first.click()  # type: ignore[attr-defined]
    time.sleep(1)
    search = page.get_by_placeholder("Search columns")  # type: ignore[attr-defined]
    for name in ["Dataset", "Source", "Models", *names]:
        search.fill(name)
        time.sleep(0.6)
        found = page.get_by_text(name, exact=True)  # type: ignore[attr-defined]
        if found.count():
            found.last.click()
            time.sleep(0.3)
    page.keyboard.press("Escape")  # type: ignore[attr-defined]
    time.sleep(2)


def fold_sidebar(page: object) -> None:
    """Folds MLflow's left sidebar away (the icon right of the logo), making room for columns."""
    button = page.get_by_role("button", name="Toggle sidebar", exact=True)  # type: ignore[attr-defined]
    if button.count():
        button.first.click()
        time.sleep(1)


def dismiss(page: object) -> None:
    """Closes the MLflow Assistant side panel (open by default in MLflow 3; it covers the
    table's right-hand columns) and first-visit hints when they are shown."""
    for name in ("Close assistant", "Close Assistant", "Close", "Got it"):
        try:
            button = page.get_by_role("button", name=name, exact=True)  # type: ignore[attr-defined]
            if button.count():
                button.first.click(timeout=3000)
                time.sleep(0.5)
        except Exception:  # noqa: BLE001 - nothing to dismiss
            pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python docs/screenshots.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", default=os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db"),
                    help="tracking store to photograph (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)")
    ap.add_argument("--out", default="docs/img", help="folder of the PNG files (default docs/img)")
    ap.add_argument("--prefix", default="after", help="file name prefix (default 'after')")
    ap.add_argument("--chromium", default=None, help="Chromium executable (default: CHROMIUM, else chromium on PATH)")
    ap.add_argument("--no-check", action="store_true", help="save the pages whatever they show (for 'before' shots)")
    ap.add_argument("--columns", default=",".join(COLUMNS), help="comma-separated metric/param columns of the "
                                                                  "campaigns shot (default: %(default)s)")
    args = ap.parse_args(argv)
    chromium = find_chromium(args.chromium)
    if chromium is None:
        print("error: no Chromium found (apt-get install chromium, or --chromium PATH)", file=sys.stderr)
        return 2
    try:
        import playwright  # noqa: F401
    except ImportError:
        print("error: Playwright is not installed (pip install playwright; it uses the Chromium above, no download)",
              file=sys.stderr)
        return 2
    try:
        shots = take(args.store, Path(args.out), args.prefix, chromium, check=not args.no_check,
                     columns=[c for c in args.columns.split(",") if c])
    except AssertionError as exc:
        print(f"error: the MLflow UI does not show what it should: {exc}", file=sys.stderr)
        return 1
    for name, path in shots.items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
