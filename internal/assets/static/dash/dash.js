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
            page.title = p.page;
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
  // Imports: upload with a progress bar (the upload, then the import),
  // the result or the error in words, then the page again.
  var imp = document.querySelector("form[data-import]");
  if (imp && window.FormData && window.XMLHttpRequest) {
    var bar = document.getElementById("import_progress");
    var status = document.getElementById("import_status");
    var say = function (text, bad) {
      status.textContent = text;
      status.className = bad ? "error" : "hint";
    };
    imp.addEventListener("submit", function (e) {
      e.preventDefault();
      var button = imp.querySelector("button[type=submit]");
      var job = "";
      var bytes = new Uint8Array(12);
      crypto.getRandomValues(bytes);
      bytes.forEach(function (b) { job += ("0" + b.toString(16)).slice(-2); });
      imp.elements.job.value = job;
      var data = new FormData(imp);
      var xhr = new XMLHttpRequest();
      var poll = null;
      var uploaded = false;
      bar.hidden = false;
      bar.value = 0;
      button.disabled = true;
      say("Uploading…");
      xhr.upload.addEventListener("progress", function (ev) {
        if (!ev.lengthComputable) return;
        bar.value = Math.round(ev.loaded / ev.total * 50);
        say("Uploading… " + Math.round(ev.loaded / ev.total * 100) + "%");
      });
      xhr.upload.addEventListener("load", function () {
        uploaded = true;
        say("Importing…");
        poll = setInterval(function () {
          fetch(imp.getAttribute("data-import") + job, { credentials: "same-origin", cache: "no-store" })
            .then(function (r) { return r.ok ? r.json() : null; })
            .then(function (p) {
              if (!p || !p.total) return;
              var pct = Math.min(100, Math.round(p.done / p.total * 100));
              bar.value = 50 + pct / 2;
              say("Importing… " + pct + "%");
            })
            .catch(function () {});
        }, 300);
      });
      xhr.addEventListener("loadend", function () {
        if (poll) clearInterval(poll);
        button.disabled = false;
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = null; }
        if (xhr.status === 200 && body && body.import) {
          bar.value = 100;
          var i = body.import;
          say("Imported " + i.rows.toLocaleString() + " rows, " + (formats.day(i.from) || i.from) + " to " + (formats.day(i.to) || i.to) + ".");
          window.location.href = window.location.pathname + "?imported=" + i.id + "#imports";
          return;
        }
        bar.hidden = true;
        var msg = body && body.error && body.error.message ? body.error.message : "The import failed" + (uploaded ? "" : " while uploading") + " (status " + xhr.status + ").";
        say(msg, true);
      });
      xhr.open("POST", imp.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.send(data);
    });
  }
  // Dates are written in the reader's locale, one way on every page: the
  // server sends <time> elements (a day, a month, an hour, an instant)
  // and the chart's labels with their full value.
  var parts = function (v) {
    var m = /^(\d{4})-(\d{2})(?:-(\d{2}))?(?:[T ](\d{2}):(\d{2}))?/.exec(v || "");
    return m ? new Date(+m[1], +m[2] - 1, m[3] ? +m[3] : 1, m[4] ? +m[4] : 0, m[5] ? +m[5] : 0) : null;
  };
  var formats = {
    day: function (v) { var d = parts(v); return d && d.toLocaleDateString(undefined, { dateStyle: "medium" }); },
    month: function (v) { var d = parts(v); return d && d.toLocaleDateString(undefined, { month: "long", year: "numeric" }); },
    hour: function (v) { var d = parts(v); return d && d.toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit" }); },
    instant: function (v) { var d = new Date(v); return isNaN(d) ? null : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }); }
  };
  document.querySelectorAll("time[data-fmt]").forEach(function (t) {
    var f = formats[t.getAttribute("data-fmt")], text = f && f(t.getAttribute("datetime"));
    if (text) t.textContent = text;
  });
  // Charts are drawn to stretch to the card's width: their text would be
  // squeezed sideways on a phone, so it is scaled back to its own shape.
  var charts = document.querySelectorAll("svg.chart");
  charts.forEach(function (svg) {
    var labels = svg.querySelectorAll("text.axis.x");
    var monthly = labels.length > 1 && [].every.call(labels, function (t) { return /-01$/.test(t.getAttribute("data-label")); }) &&
      [].some.call(labels, function (t, i) { return i > 0 && t.getAttribute("data-label").slice(5, 7) !== labels[i - 1].getAttribute("data-label").slice(5, 7); });
    var hourly = function (v) { return / \d{2}:/.test(v); };
    labels.forEach(function (t) {
      var v = t.getAttribute("data-label"), d = parts(v);
      if (!d) return;
      t.textContent = hourly(v) ? formats.hour(v)
        : monthly ? d.toLocaleDateString(undefined, { month: "short", year: "2-digit" })
        : d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
    });
    svg.querySelectorAll("title[data-label]").forEach(function (t) {
      var v = t.getAttribute("data-label");
      var text = hourly(v) ? formats.hour(v) : monthly ? formats.month(v) : formats.day(v);
      if (text) t.textContent = text + ": " + t.getAttribute("data-value");
    });
  });
  var unsqueeze = function () {
    charts.forEach(function (svg) {
      var vb = svg.viewBox.baseVal;
      if (!vb || !vb.width) return;
      var sx = svg.getBoundingClientRect().width / vb.width;
      if (!sx) return;
      svg.querySelectorAll("text").forEach(function (t) {
        var x = +t.getAttribute("x");
        t.setAttribute("transform", "translate(" + x + " 0) scale(" + (1 / sx) + " 1) translate(" + (-x) + " 0)");
      });
      // Fewer date labels where they would run into each other.
      var lastRight = -Infinity;
      svg.querySelectorAll("text.axis.x").forEach(function (t) {
        t.removeAttribute("visibility");
        var r = t.getBoundingClientRect();
        if (r.left < lastRight + 6) { t.setAttribute("visibility", "hidden"); return; }
        lastRight = r.right;
      });
    });
  };
  unsqueeze();
  window.addEventListener("resize", unsqueeze);

  // A new site: wait for its first pageview and say when it came.
  var onboard = document.querySelector("[data-first-hit]");
  if (onboard) {
    var waiting = onboard.querySelector(".waiting");
    var check = setInterval(function () {
      fetch(onboard.getAttribute("data-first-hit"), { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (d) {
          if (!d || !d.recent || !d.recent.length) return;
          clearInterval(check);
          var first = d.recent[d.recent.length - 1];
          waiting.className = "waiting arrived";
          waiting.textContent = "The first pageview arrived: " + first.page + ", " + new Date(first.time).toLocaleTimeString() + ". ";
          var a = document.createElement("a");
          a.href = window.location.pathname + window.location.search;
          a.textContent = "Show the dashboard";
          waiting.append(a);
        })
        .catch(function () {});
    }, 3000);
  }
  document.querySelectorAll("[data-copy]").forEach(function (b) {
    b.addEventListener("click", function () {
      var text = document.getElementById(b.getAttribute("data-copy")).textContent;
      var done = function () { b.textContent = "Copied"; setTimeout(function () { b.textContent = "Copy"; }, 2000); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () {});
      } else {
        var r = document.createRange();
        r.selectNodeContents(document.getElementById(b.getAttribute("data-copy")));
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(r);
        try { document.execCommand("copy"); done(); } catch (e) {}
      }
    });
  });
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (!window.confirm(f.getAttribute("data-confirm"))) e.preventDefault();
    });
  });
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA" || t.isContentEditable)) return;
    var a = document.querySelector('a[data-key="' + e.key + '"]');
    if (a) { e.preventDefault(); window.location.href = a.href; }
  });
})();
