"""The test copy of the book, and a headless-Chromium check of every page of a built site.

The tests never write into the reader's build (book/generated/, _build/html, _build/reproduction.json): they
copy the book's sources into a folder of their own (`_build/test/`), execute the notebooks there in quick mode
and build the HTML there. `snapshot` records the reader's build so that a test can show it was left alone.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import urllib.parse

CHROMIUM = pathlib.Path("/usr/bin/chromium")
# The flags this machine's closed network needs (no background connections, no QUIC), and no /dev/shm for shared
# memory (a container's is small); --headless is set by Playwright, a fresh --user-data-dir by check_site.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
VIEWPORT = {"width": 1300, "height": 900}  # a laptop screen; the reader also tried 1920 px
# Pages screenshotted for review: {file stem: (page, whole page?)}.
SCREENSHOTS = {"landing": ("index.html", True), "chapter": ("book/generated/ch01_molrg.html", False),
               "dashboard": ("book/generated/reproduction.html", True)}
# Never copied into the test site: build outputs, the reader's executed notebooks, environments, caches, and data/
# (not a book source; notebooks find it through the lowdim package, which they import from the repository).
SKIP = {".git", ".venv", "_build", "__pycache__", ".pytest_cache", ".ipynb_checkpoints", "data"}


# ---- the test copy of the book ----------------------------------------------------------------------------------

def stage(root: pathlib.Path, site: pathlib.Path) -> None:
    """Copy the book sources of `root` into `site`, replacing an older copy but keeping its book/generated/.

    The executed notebooks and their stamps in site/book/generated survive, so that a second test run re-executes
    only the notebooks whose inputs changed (as the reader's build does); site/_build is rebuilt from scratch.
    """
    site.mkdir(parents=True, exist_ok=True)
    for path in site.iterdir():
        if path.name != "book":
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    for path in (site / "book").glob("*"):
        if path.name != "generated":
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()

    def ignore(folder: str, names: list[str]) -> set[str]:
        skip = {n for n in names if n in SKIP or n.endswith(".egg-info")}
        return skip | ({"generated"} if pathlib.Path(folder) == root / "book" else set())

    shutil.copytree(root, site, ignore=ignore, dirs_exist_ok=True)


def run(command: list[str], cwd: pathlib.Path) -> subprocess.CompletedProcess:
    """Run `command`; AssertionError with the end of its output when it fails."""
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(map(str, command))} failed:\n{done.stdout[-5000:]}\n{done.stderr[-5000:]}"
    return done


def build_quick(root: pathlib.Path, site: pathlib.Path) -> None:
    """Execute every notebook of `root` in quick mode into `site` and build `site`'s HTML (-W -n)."""
    stage(root, site)
    run([sys.executable, "-m", "lowdim.book.build", "--mode", "quick", "--site", str(site)], cwd=root)
    jupyter_book = pathlib.Path(sysconfig.get_path("scripts")) / "jupyter-book"
    run([str(jupyter_book), "build", "-W", "-n", "--keep-going", "--quiet", "."], cwd=site)


def snapshot(root: pathlib.Path, keep_out: pathlib.Path) -> dict[str, tuple[int, int, str]]:
    """{path: (size, mtime in ns, sha256)} of every file of the reader's build: book/generated/ and _build/ of
    `root`, except the folder `keep_out` (the tests' own)."""
    files = {}
    for folder in (root / "book" / "generated", root / "_build"):
        for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
            if path.is_file() and not path.is_relative_to(keep_out):
                stat = path.stat()
                files[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns,
                                                      hashlib.sha256(path.read_bytes()).hexdigest())
    return files


def changes(before: dict, after: dict) -> list[str]:
    """Human-readable differences between two snapshots."""
    return ([f"created {p}" for p in sorted(set(after) - set(before))]
            + [f"deleted {p}" for p in sorted(set(before) - set(after))]
            + [f"modified {p}" for p in sorted(set(before) & set(after)) if before[p] != after[p]])


# ---- the browser check ------------------------------------------------------------------------------------------

# One evaluation per page: everything measured in the rendered page (after MathJax has typeset it).
PAGE_SCRIPT = r"""
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const imgs = [...document.images];
  imgs.forEach(img => { img.loading = "eager"; });
  await Promise.all(imgs.map(img => img.complete ? null
                                     : new Promise(done => { img.onload = img.onerror = done; })));
  const where = el => {
    const section = el.closest("section[id]");
    if (el.closest(".bd-sidebar-primary, nav")) return "sidebar";
    return section ? "#" + section.id : "page";
  };
  // Text a reader sees as text: not code, not scripts, not typeset math (MathJax keeps the source in its output).
  const skip = "pre, code, kbd, samp, script, style, textarea, noscript, mjx-container, .MathJax";
  const raw = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || el.closest(skip)) continue;
    const text = node.textContent;
    const at = text.search(/\$|\\\(|\\\)|\\\[|\\\]/);
    if (at >= 0) raw.push(`${where(el)}: "${text.slice(Math.max(0, at - 40), at + 40).replace(/\s+/g, " ").trim()}"`);
  }
  if (/\$|\\\(|\\\[/.test(document.title)) raw.push(`<title>: "${document.title}"`);
  const column = document.querySelector("article.bd-article") || document.querySelector("main") || document.body;
  const limit = column.clientWidth;
  const wide = [];
  for (const el of column.querySelectorAll("table, pre")) {
    const width = Math.max(el.scrollWidth, el.getBoundingClientRect().width);
    if (width > limit + 1) {
      const text = el.textContent.replace(/\s+/g, " ").trim().slice(0, 60);
      wide.push(`${where(el)}: ${el.tagName.toLowerCase()} ${Math.round(width)} px > column ${limit} px ("${text}")`);
    }
  }
  const page = document.documentElement;
  return {
    broken_images: imgs.filter(img => !img.complete || img.naturalWidth === 0).map(img => img.currentSrc || img.src),
    links: [...document.querySelectorAll("a[href]")].map(a => a.href),
    ids: [...document.querySelectorAll("[id], a[name]")].map(el => el.id || el.name),
    raw_math: raw,
    wide_blocks: wide,
    page_width: page.scrollWidth > page.clientWidth ? `${page.scrollWidth} px > window ${page.clientWidth} px` : null,
  };
}
"""

CHECKS = ("images", "links", "math", "wide", "scroll")


@dataclasses.dataclass
class SiteReport:
    """Failures of each check (CHECKS), each naming the page and what failed; pages checked; screenshots."""

    pages: list[str]
    failures: dict[str, list[str]]
    screenshots: dict[str, pathlib.Path]
    internal_links: int  # distinct internal link targets checked


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def serve(html: pathlib.Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve the folder `html` on 127.0.0.1 (a free port) in a thread; returns the server and its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_QuietHandler, directory=str(html)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/"


def site_pages(html: pathlib.Path) -> list[str]:
    """Every HTML page of the built site, relative to `html` (assets and page sources excluded)."""
    return sorted(str(p.relative_to(html)) for p in html.rglob("*.html")
                  if not p.relative_to(html).parts[0].startswith("_"))


def check_site(html: pathlib.Path, screenshot_dir: pathlib.Path,
               screenshots: dict[str, tuple[str, bool]] = SCREENSHOTS) -> SiteReport:
    """Open every page of the site in headless Chromium and collect what fails (see PAGE_SCRIPT and CHECKS).

    images: an image that does not load (or a request for a page resource that fails); links: an internal link
    to a missing file or to a missing anchor; math: `$`, `\\(` or `\\[` left in the rendered text, the sidebar
    and the page title included; wide: a table or code block wider than the content column; scroll: a page
    wider than the window (a horizontal scrollbar). Saves the `screenshots` ({name: (page, whole page?)}) as
    `screenshot_dir`/name.png.
    """
    from playwright.sync_api import sync_playwright

    failures = {check: [] for check in CHECKS}
    screenshot_dir.mkdir(parents=True, exist_ok=True)
    pages, found, ids, saved = site_pages(html), {}, {}, {}
    server, base = serve(html)
    try:
        with sync_playwright() as playwright, tempfile.TemporaryDirectory(prefix="lowdim-chromium-") as profile:
            browser = playwright.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS, viewport=VIEWPORT)
            tab = browser.new_page()
            failed_requests = []
            tab.on("requestfailed", lambda request: failed_requests.append(request.url))
            tab.on("response", lambda response: response.status >= 400 and failed_requests.append(response.url))
            for page in pages:
                failed_requests.clear()
                tab.goto(base + page, wait_until="load")
                result = tab.evaluate(PAGE_SCRIPT)
                failures["images"] += [f"{page}: {urllib.parse.unquote(src)}" for src in result["broken_images"]]
                failures["images"] += [f"{page}: request failed {urllib.parse.unquote(url)}"
                                       for url in failed_requests if url.startswith(base)]
                failures["math"] += [f"{page}: {text}" for text in result["raw_math"]]
                failures["wide"] += [f"{page}: {text}" for text in result["wide_blocks"]]
                if result["page_width"]:
                    failures["scroll"].append(f"{page}: {result['page_width']}")
                found[page], ids[page] = result["links"], set(result["ids"])
                for name, (shot_page, full_page) in screenshots.items():
                    if shot_page == page:
                        saved[name] = screenshot_dir / f"{name}.png"
                        tab.screenshot(path=str(saved[name]), full_page=full_page)
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    failures["links"] = broken_links(html, base, found, ids)
    internal = {href for hrefs in found.values() for href in hrefs if href.startswith(base)}
    return SiteReport(pages=pages, failures=failures, screenshots=saved, internal_links=len(internal))


def broken_links(html: pathlib.Path, base: str, links: dict[str, list[str]], ids: dict[str, set[str]]) -> list[str]:
    """Internal links (under `base`) whose file is missing, or whose #anchor is not an id of the target page."""
    broken = set()
    for page, hrefs in links.items():
        for href in hrefs:
            if not href.startswith(base):
                continue  # another site, mailto:, javascript:
            url = urllib.parse.urlsplit(href)
            target = urllib.parse.unquote(url.path[len(urllib.parse.urlsplit(base).path):]) or "index.html"
            if target.endswith("/"):
                target += "index.html"
            if not (html / target).is_file():
                broken.add(f"{page}: link to missing {target}")
            elif url.fragment and target in ids and urllib.parse.unquote(url.fragment) not in ids[target]:
                broken.add(f"{page}: link to missing anchor {target}#{url.fragment}")
    return sorted(broken)
