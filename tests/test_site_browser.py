"""The built documentation site, opened page by page in a real headless browser.

Runs only when ``CVXLIFT_SITE_DIR`` names a site built by ``mkdocs build`` (``.ci/run``
sets it after building the docs); otherwise the test is skipped, so the default
``python -m pytest -q`` needs neither a site nor a browser. When the variable is set, a
missing browser is a failure, not a skip.

Every HTML page of the site is served from a local HTTP server bound to 127.0.0.1 (nothing
else is contacted: the site carries its own MathJax) and loaded in headless Chromium driven
by Selenium. The test fails, listing every problem with its page, on

* a console error (``SEVERE`` browser log entries: JavaScript exceptions, resources that
  failed to load);
* a formula left unrendered: a MathJax span without its rendered output, a MathJax TeX error,
  or TeX delimiters (``\\(``, ``\\[``, ``$$``, ``$...\\cmd...$``) left in the visible text;
* an image that does not load (not complete, or zero natural width), or an inline SVG icon
  drawn larger than 300 px (an icon whose style sheet is missing);
* a gallery figure without a caption: every figure of a gallery page must be followed (after
  the script's printed output, if any) by a paragraph that starts with "Figure" and gives the
  command that makes it (a ``python ...`` or ``cvxlift ...`` code span).

Environment: ``CVXLIFT_SITE_DIR`` (the built site), ``CVXLIFT_CHROMIUM`` and
``CVXLIFT_CHROMEDRIVER`` (default: ``chromium`` and ``chromedriver`` on ``PATH``),
``CVXLIFT_SITE_TIMEOUT`` (seconds for the whole check, default 600).
"""

import functools
import http.server
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

SITE = os.environ.get("CVXLIFT_SITE_DIR")
pytestmark = pytest.mark.skipif(not SITE, reason="CVXLIFT_SITE_DIR is not set (no built site to check)")

PAGE_TIMEOUT = 30.0

# JavaScript run in each page once it has loaded: wait for MathJax's typesetting, then report.
_INSPECT = r"""
const done = arguments[arguments.length - 1];
function report() {
  const out = {mathjax: !!(window.MathJax && MathJax.startup), unrendered: [], errors: [], raw: [],
               images: [], uncaptioned: [], oversized: [], n_math: 0, n_img: 0};
  const spans = document.querySelectorAll('.arithmatex');
  out.n_math = spans.length;
  spans.forEach(el => { if (!el.querySelector('mjx-container')) out.unrendered.push(el.textContent.slice(0, 80)); });
  document.querySelectorAll('mjx-merror, [data-mjx-error]').forEach(el =>
      out.errors.push((el.getAttribute('data-mjx-error') || el.textContent).slice(0, 120)));
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const tex = /\\\(|\\\[|\$\$|\$[^$\n]*\\[A-Za-z]+[^$\n]*\$/;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest('pre, code, script, style, textarea, mjx-container, .arithmatex')) continue;
    if (tex.test(node.textContent)) out.raw.push(node.textContent.trim().slice(0, 80));
  }
  const imgs = document.querySelectorAll('img');
  out.n_img = imgs.length;
  imgs.forEach(img => {
    if (!img.complete || img.naturalWidth === 0) out.images.push(img.getAttribute('src'));
  });
  document.querySelectorAll('svg').forEach(svg => {
    if (svg.closest('mjx-container')) return;
    const box = svg.getBoundingClientRect();
    if (box.height > 300 || box.width > 1200) {
      const where = svg.parentElement.className || svg.parentElement.tagName;
      out.oversized.push(`${where} ${Math.round(box.width)}x${Math.round(box.height)}`);
    }
  });
  const FIG = 'img[class*="glr-single-img"], img[class*="glr-multi-img"]';
  document.querySelectorAll(FIG).forEach(img => {
    const el = img.closest('p, ul') || img;
    let next = el.nextElementSibling;
    const skip = e => e && (e.matches('[class*="glr-script-out"]') || e.querySelector(FIG)
                            || (e.tagName === 'P' && e.textContent.trim() === 'Out:'));
    while (skip(next)) next = next.nextElementSibling;
    const ok = next && next.tagName === 'P' && /^Figure/.test(next.textContent.trim())
               && [...next.querySelectorAll('code')].some(c => /^(python|cvxlift) /.test(c.textContent));
    if (!ok) out.uncaptioned.push(img.getAttribute('src'));
  });
  done(out);
}
if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
  MathJax.startup.promise.then(report, report);
} else {
  report();
}
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test reports failures itself
        pass


def _serve(directory):
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server


def _driver():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail('CVXLIFT_SITE_DIR is set but selenium is not installed (pip install ".[docs]")')

    browser = os.environ.get("CVXLIFT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = os.environ.get("CVXLIFT_CHROMEDRIVER") or shutil.which("chromedriver")
    if not browser or not driver_path:
        pytest.fail(
            "CVXLIFT_SITE_DIR is set but chromium/chromedriver were not found "
            "(Debian: apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        "--no-first-run",
        "--window-size=1280,1000",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    driver.set_script_timeout(PAGE_TIMEOUT)
    return driver


def _pages(site):
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))


def test_every_page_renders_in_a_browser():
    site = Path(SITE).resolve()
    assert (site / "index.html").is_file(), f"CVXLIFT_SITE_DIR={SITE} holds no built site (no index.html)"
    pages = _pages(site)
    deadline = time.monotonic() + float(os.environ.get("CVXLIFT_SITE_TIMEOUT", "600"))
    server = _serve(site)
    driver = _driver()
    problems, n_math, n_img, n_caption = [], 0, 0, 0
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        for page in pages:
            if time.monotonic() > deadline:
                problems.append(f"timed out after checking {pages.index(page)} of {len(pages)} pages")
                break
            driver.get(base + page)
            report = driver.execute_async_script(_INSPECT)
            logs = driver.get_log("browser")
            where = page
            for entry in logs:
                if entry.get("level") == "SEVERE":
                    problems.append(f"{where}: console error: {entry.get('message', '')[:200]}")
            if report["n_math"] and not report["mathjax"]:
                problems.append(f"{where}: {report['n_math']} formulas but MathJax did not load")
            problems += [f"{where}: formula not rendered: {t!r}" for t in report["unrendered"]]
            problems += [f"{where}: MathJax error: {t!r}" for t in report["errors"]]
            problems += [f"{where}: TeX left in the text: {t!r}" for t in report["raw"]]
            problems += [f"{where}: image does not load: {src}" for src in report["images"]]
            problems += [
                f"{where}: inline SVG drawn oversized (an icon without its style?): {t}" for t in report["oversized"]
            ]
            problems += [
                f"{where}: gallery figure without a caption ('Figure ...' with a command): {src}"
                for src in report["uncaptioned"]
            ]
            n_math += report["n_math"]
            n_img += report["n_img"]
            n_caption += "generated/gallery/" in page and report["n_img"] > 0
    finally:
        driver.quit()
        server.shutdown()
        server.server_close()
    print(f"checked {len(pages)} pages: {n_math} formulas, {n_img} images")
    assert n_math > 0, "no formula found on any page: is arithmatex still configured?"
    assert n_caption > 0, "no gallery page with figures found"
    assert not problems, f"{len(problems)} problem(s) in the built site:\n" + "\n".join(problems)
