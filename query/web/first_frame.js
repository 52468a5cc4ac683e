// Inlined at the end of a list page the server drew (query/list_page.py); not a module.
// The drawn page is marked and painted first, then the page's modules load and draw it again,
// identical, with its behaviour. Drawn in another time zone than the browser's, its times
// would be wrong: the modules draw the page from the start instead.
(function () {
  var drawn = document.querySelector("[data-first-frame=server]");
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  var utc = /^(Etc\/)?(UTC|GMT|UCT|Universal|Zulu)$/;
  function load() {
    window.__jtPreload();
    var script = document.createElement("script");
    script.type = "module";
    script.src = "/web/app.js";
    document.head.appendChild(script);
  }
  if (drawn && (drawn.dataset.zone === zone || (utc.test(drawn.dataset.zone) && utc.test(zone)))) {
    performance.mark("journeytrace:list-rendered", { detail: { rows: drawn.querySelectorAll("[data-journey-id]").length } });
    requestAnimationFrame(function () {
      setTimeout(function () {
        performance.mark("journeytrace:list-painted");
        load();
      }, 0);
    });
  } else {
    if (drawn) drawn.remove();
    load();
  }
})();
