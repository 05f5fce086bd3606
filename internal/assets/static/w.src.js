/* Waymark tracker source; w.js is built from it by scripts/build-tracker.
   <script defer data-domain="example.com" src="https://waymark.example/w.js"></script>
   data-api: endpoint (default: the script's origin + /api/event)
   data-allow-localhost, data-allow-webdriver: count those too (demos, tests)
   data-outbound, data-downloads: send outbound-link clicks and file downloads as events
   The language comes from the beacon's Accept-Language header. */
(function (w, d, L, N) {
  var s = d.currentScript, A = function (n) { return s.getAttribute("data-" + n); },
    api = A("api") || new URL("/api/event", s.src), dom = A("domain") || L.hostname,
    hook, pid, ms = 0, since = 0, depth = 0, last, blurred, q = w.waymark?.q || [],
    skip = A("allow-localhost") == null && /^(localhost|127\.|\[::1)/.test(L.hostname) || N.webdriver && A("allow-webdriver") == null;
  function send(n, o) {
    var p = { n: n, u: L.href, d: dom, r: d.referrer, sw: screen.width, sh: screen.height, vw: innerWidth, vh: innerHeight,
      dpr: devicePixelRatio, cd: screen.colorDepth, tz: Intl.DateTimeFormat().resolvedOptions().timeZone, pid: pid };
    for (var k in o) p[k] = o[k];
    if (skip || hook && !(p = hook(p))) return;
    N.sendBeacon(api, JSON.stringify(p)); // survives unload; sent as text/plain, so no CORS preflight
  }
  function tick() {
    since && (ms += Date.now() - since);
    since = !d.hidden && !blurred ? Date.now() : 0;
  }
  function scroll() {
    depth = Math.max(depth, Math.round((scrollY + innerHeight) / d.documentElement.scrollHeight * 100)); // the server caps it at 100
  }
  function engage() {
    tick();
    if (pid && ms) send("engagement", { e: ms, sd: depth }), ms = 0;
  }
  function page() {
    if (last == L.href) return;
    engage();
    last = L.href; pid = Math.random().toString(16).slice(2);
    ms = depth = 0; tick(); scroll();
    send("pageview");
  }
  w.waymark = w.plausible = function (c, a, b) {
    c == "hook" ? hook = a : c == "pageview" ? (last = 0, page()) : c == "event" ? send(a, { p: b }) : send(c, { p: a && a.props });
  };
  q.forEach(function (x) { w.waymark.apply(0, x); });
  var hp = history.pushState;
  history.pushState = function () { hp.apply(this, arguments); page(); };
  w.addEventListener("popstate", page);
  d.addEventListener("visibilitychange", function () { d.hidden ? engage() : tick(); });
  w.addEventListener("pagehide", engage);
  // Engaged means visible and not blurred; a page opened in front counts as focused.
  ["focus", "blur"].forEach(function (e, i) { w.addEventListener(e, function () { blurred = i; tick(); }); });
  w.addEventListener("scroll", scroll); // scroll events cannot be cancelled, so this never delays scrolling
  d.addEventListener("click", function (e) {
    var a = e.target.closest?.("a"), u = a && new URL(a.href, L),
      n = !a ? 0 : A("downloads") != null && /\.(pdf|zip|csv|xlsx?|docx?|dmg|exe)$/i.test(u.pathname) ? "File Download" :
        A("outbound") != null && u.host && u.host != L.host && "Outbound Link: Click";
    n && send(n, { p: { url: u.href } });
  });
  d.prerendering ? d.addEventListener("prerenderingchange", page, { once: 1 }) : page(); // count a prerendered page when shown
})(window, document, location, navigator);
