// MathJax 3 set-up (the vendored tex-svg-full.js, see mathjax/README.md) for pymdownx.arithmatex (generic mode): typeset \( \) and \[ \] spans.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true
  },
  options: {
    ignoreHtmlClass: ".*|",
    // arithmatex spans, and the navigation entries of headings that hold a formula (the toc
    // extension copies the heading's text, without the arithmatex span, into the side bar links)
    processHtmlClass: "arithmatex|toctree-l[1-6]|reference"
  },
  // SVG output with one glyph cache per page: no web fonts to fetch
  svg: {
    fontCache: "global"
  }
};

if (typeof document$ !== "undefined") {
  document$.subscribe(() => { MathJax.typesetPromise(); });
}
