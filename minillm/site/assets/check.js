// The page checks itself once it has loaded and writes what it found on <body data-check="...">:
// the browser test (minillm/site/check.py) reads it back.  Nothing here is needed to read the page.
window.addEventListener("load", function () {
  var found = {rows: 0, broken_rows: [], images: 0, missing_images: [], untypeset: []};
  document.querySelectorAll(".row").forEach(function (row, i) {
    var left = row.querySelector(".prose"), right = row.querySelector(".code");
    if (!left || !right) return;
    found.rows += 1;
    var a = left.getBoundingClientRect(), b = right.getBoundingClientRect();
    if (!(a.right <= b.left + 1 && Math.abs(a.top - b.top) < 2 && a.width > 150 && b.width > 250)) {
      found.broken_rows.push(row.id || String(i));
    }
  });
  document.querySelectorAll("img").forEach(function (img) {
    found.images += 1;
    if (!img.complete || img.naturalWidth === 0) found.missing_images.push(img.alt || img.src.slice(0, 40));
  });
  var walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  var raw = /\$[^$\s][^$]*\$|\\(frac|sqrt|sum|mathrm|operatorname|hat|left|right|begin)\b/;
  while (walker.nextNode()) {
    var node = walker.currentNode, parent = node.parentElement;
    if (parent.closest("pre, code, script, style, math")) continue;
    if (raw.test(node.nodeValue)) found.untypeset.push(node.nodeValue.trim().slice(0, 80));
  }
  document.body.setAttribute("data-check", JSON.stringify(found));
});
