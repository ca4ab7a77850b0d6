// Render every chart on the page: a <div class="chart" data-figure="ID"> and a
// <script type="application/json" id="ID"> holding a Plotly figure. No inline script.
// Danish pages get Danish separators (1.234,5), month names and whole numbers on the
// axes instead of SI suffixes ("40 mio." rather than "40M").
if (window.Plotly) {
  Plotly.register({
    moduleType: "locale",
    name: "da",
    dictionary: {},
    format: {
      days: ["søndag", "mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag"],
      shortDays: ["søn", "man", "tir", "ons", "tor", "fre", "lør"],
      months: ["januar", "februar", "marts", "april", "maj", "juni", "juli", "august",
               "september", "oktober", "november", "december"],
      shortMonths: ["jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt",
                    "nov", "dec"],
      date: "%d.%m.%Y",
      decimal: ",",
      thousands: "."
    }
  });
}
document.addEventListener("DOMContentLoaded", function () {
  var lang = document.documentElement.lang === "en" ? "en" : "da";
  document.querySelectorAll("div.chart[data-figure]").forEach(function (div) {
    var fig = JSON.parse(document.getElementById(div.dataset.figure).textContent);
    var layout = Object.assign({margin: {t: 40, r: 10, b: 60, l: 60}, height: 340}, fig.layout || {});
    layout.separators = lang === "da" ? ",." : ".,";
    ["xaxis", "yaxis", "yaxis2"].forEach(function (ax) {
      layout[ax] = Object.assign({exponentformat: "none", separatethousands: true}, layout[ax] || {});
    });
    if (!layout.yaxis2 || !layout.yaxis2.overlaying) delete layout.yaxis2;
    Plotly.newPlot(div, fig.data, layout, {displaylogo: false, responsive: true, locale: lang,
                                                topojsonURL: "/static/topojson/"});
    // a click on a bar or an area with a link (customdata "/...") opens it
    div.on("plotly_click", function (ev) {
      var to = ev.points && ev.points[0] && ev.points[0].customdata;
      if (typeof to === "string" && to.charAt(0) === "/") window.location.href = to;
    });
    div.setAttribute("data-rendered", "1");
  });
});
