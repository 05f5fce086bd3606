// The demo's "what is stored about me" page.
(function () {
  "use strict";
  // purposes reads {"analytics":true,...} as "analytics on, ...".
  function purposes(p) {
    return Object.keys(p || {}).sort().map(function (k) { return k + (p[k] ? " on" : " off"); }).join(", ");
  }
  function show() {
    var h = {};
    try { var t = localStorage.getItem("waymark_id"); if (t) h["Waymark-Id"] = t; } catch (e) {}
    fetch("/api/v1/consent/me", { credentials: "same-origin", cache: "no-store", headers: h })
      .then(function (r) { return r.json(); })
      .then(function (d) {
        document.getElementById("me-id").textContent = d.visitor_id || "none";
        var wm = window.waymark && window.waymark.identity;
        document.getElementById("me-where").textContent = wm ? wm.storage() : "unknown";
        var c = window.waymark && window.waymark.consent && window.waymark.consent.get();
        document.getElementById("me-choices").textContent = c ? purposes(c.purposes) : "not decided";
        var ul = document.getElementById("me-cookies"), cs = d.cookies || [];
        ul.replaceChildren.apply(ul, cs.length ? cs.map(function (c) {
          var li = document.createElement("li"), b = document.createElement("code");
          b.textContent = c.name;
          li.append(b, " (" + c.purpose + "): " + c.why);
          return li;
        }) : [Object.assign(document.createElement("li"), { textContent: "none" })]);
        var ol = document.getElementById("me-receipts");
        ol.replaceChildren.apply(ol, (d.receipts || []).map(function (r) {
          var li = document.createElement("li");
          li.textContent = r.time + " · " + r.source + " · policy " + r.policy_version + " · " + purposes(r.purposes) + " · receipt " + r.receipt_id;
          return li;
        }));
      });
  }
  document.getElementById("forget").addEventListener("click", function () {
    fetch("/api/v1/consent/forget", { method: "POST", credentials: "same-origin" }).then(function () {
      try { localStorage.removeItem("waymark_id"); } catch (e) {}
      show();
    });
  });
  if (window.waymark && window.waymark.consent) window.waymark.consent.onChange(show);
  show();
})();
