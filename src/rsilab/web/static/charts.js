// Draw every chart on the page with plotly.js (served by the app itself).
// Figures arrive as JSON in a data attribute, so no inline script is needed (the CSP forbids it).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-figure]").forEach(function (element) {
    var figure = JSON.parse(element.dataset.figure);
    Plotly.newPlot(element, figure.data, figure.layout, { displaylogo: false, responsive: true });
  });
});
