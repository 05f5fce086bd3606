// Waymark dashboard: realtime updates and keyboard shortcuts. The pages
// work without it.
(function () {
  "use strict";
  var view = document.querySelector("[data-realtime]");
  if (view) {
    var url = view.getAttribute("data-realtime");
    var count = document.getElementById("rt-visitors");
    var list = document.getElementById("rt-list");
    var busy = false;
    var tick = function () {
      if (busy || document.hidden) return;
      busy = true;
      fetch(url, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (d) {
          if (!d) return;
          count.textContent = String(d.visitors);
          var items = d.recent.map(function (p) {
            var li = document.createElement("li");
            var ago = document.createElement("span");
            ago.className = "ago";
            ago.textContent = p.ago;
            var page = document.createElement("span");
            page.className = "page";
            page.textContent = p.page;
            var src = document.createElement("span");
            src.className = "src";
            src.textContent = p.source + " · " + p.browser + " · " + p.device;
            li.append(ago, page, src);
            return li;
          });
          list.replaceChildren.apply(list, items);
        })
        .catch(function () {})
        .finally(function () { busy = false; });
    };
    tick();
    setInterval(tick, 1000);
  }
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA" || t.isContentEditable)) return;
    var a = document.querySelector('a[data-key="' + e.key + '"]');
    if (a) { e.preventDefault(); window.location.href = a.href; }
  });
})();
