// Render every chart on the page: a <div class="chart" data-figure="ID"> and a
// <script type="application/json" id="ID"> holding a Plotly figure. No inline script.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("div.chart[data-figure]").forEach(function (div) {
    var fig = JSON.parse(document.getElementById(div.dataset.figure).textContent);
    var layout = Object.assign({margin: {t: 40, r: 10, b: 60, l: 60}, height: 340}, fig.layout || {});
    Plotly.newPlot(div, fig.data, layout, {displaylogo: false, responsive: true});
    div.setAttribute("data-rendered", "1");
  });
});
