// The demo's "what is stored about me" page.
(function () {
  "use strict";
  var names = { necessary: "Necessary", preferences: "Preferences", analytics: "Analytics" };
  var sources = { banner: "banner", preferences: "privacy choices", api: "the site", gpc: "browser privacy signal", expiry: "expired" };
  function when(iso) {
    var d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }
  // short shows an id's start; the whole id is its title.
  function short(id) {
    var s = document.createElement("code");
    s.textContent = id.length > 12 ? id.slice(0, 8) + "…" : id;
    s.title = id;
    return s;
  }
  function summary(p) {
    var keys = Object.keys(p || {}).sort();
    var on = keys.filter(function (k) { return p[k]; }).map(function (k) { return names[k] || k; });
    var off = keys.filter(function (k) { return !p[k]; }).map(function (k) { return names[k] || k; });
    return (on.length ? "allowed: " + on.join(", ") : "nothing allowed") + (off.length ? "; refused: " + off.join(", ") : "");
  }
  function row(cells) {
    var tr = document.createElement("tr");
    cells.forEach(function (c) {
      var td = document.createElement("td");
      td.append(c);
      tr.append(td);
    });
    return tr;
  }
  function show() {
    var h = {};
    try { var t = localStorage.getItem("waymark_id"); if (t) h["Waymark-Id"] = t; } catch (e) {}
    return fetch("/api/v1/consent/me", { credentials: "same-origin", cache: "no-store", headers: h })
      .then(function (r) { return r.json(); })
      .then(function (d) {
        var id = document.getElementById("me-id");
        id.replaceChildren(d.visitor_id ? short(d.visitor_id) : "none");
        var wm = window.waymark && window.waymark.identity;
        document.getElementById("me-where").textContent = wm ? wm.storage() : "unknown";
        var c = window.waymark && window.waymark.consent && window.waymark.consent.get();
        var choices = document.querySelector("#me-choices tbody");
        var p = (c && c.purposes) || {};
        var keys = Object.keys(p).sort();
        choices.replaceChildren.apply(choices, keys.length ? keys.map(function (k) {
          return row([names[k] || k, p[k] ? "yes" : "no"]);
        }) : [row(["not decided yet", ""])]);
        var ul = document.getElementById("me-cookies"), cs = d.cookies || [];
        ul.replaceChildren.apply(ul, cs.length ? cs.map(function (c) {
          var li = document.createElement("li"), b = document.createElement("code");
          b.textContent = c.name;
          li.append(b, " (" + c.purpose + "): " + c.why);
          return li;
        }) : [Object.assign(document.createElement("li"), { textContent: "none" })]);
        var body = document.querySelector("#me-receipts tbody");
        var rs = d.receipts || [];
        body.replaceChildren.apply(body, rs.length ? rs.map(function (r) {
          return row([when(r.time), (sources[r.source] || r.source) + ", policy " + r.policy_version, summary(r.purposes), short(r.receipt_id)]);
        }) : [row(["no receipts", "", "", ""])]);
      });
  }
  document.getElementById("forget").addEventListener("click", function () {
    var status = document.getElementById("forgotten");
    fetch("/api/v1/consent/forget", { method: "POST", credentials: "same-origin" }).then(function (r) {
      try { localStorage.removeItem("waymark_id"); } catch (e) {}
      return show().then(function () {
        status.textContent = r.ok ? "Done: this site no longer keeps your receipts or a visitor id for you, and its cookies are deleted."
          : "That did not work (status " + r.status + "); try again.";
      });
    }).catch(function () { status.textContent = "That did not work: the site did not answer; try again."; });
  });
  if (window.waymark && window.waymark.consent) window.waymark.consent.onChange(show);
  show();
})();
