// A click on a notebook figure opens it at its full size (the retina PNG's pixels) in an overlay on the page;
// a click or Escape closes it. The overlay is created on the first click (an <img> without a source would count
// as a broken image).
document.addEventListener("DOMContentLoaded", function () {
  var overlay = null;
  function close() { if (overlay) overlay.remove(); overlay = null; }
  function open(img) {
    close();
    overlay = document.createElement("div");
    overlay.className = "figure-zoom open";
    overlay.setAttribute("role", "dialog");
    overlay.setAttribute("aria-label", "figure at full size (click or Escape to close)");
    var big = document.createElement("img");
    big.src = img.src;
    big.alt = img.alt;
    overlay.appendChild(big);
    overlay.addEventListener("click", close);
    document.body.appendChild(overlay);
  }
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") close(); });
  document.querySelectorAll(".cell_output img, figure img, .landing-figure img").forEach(function (img) {
    img.classList.add("zoomable");
    img.title = "Click to open the figure at full size";
    img.addEventListener("click", function (event) {
      event.preventDefault();  // Sphinx wraps scaled images in a link to the PNG: stay on the page instead
      open(img);
    });
  });
});
