/* Waymark tracker source; scripts/build-tracker builds two files from it:
   w.js (FULL false): the default script, served as Plausible's
   /js/script.js and /js/plausible.js; at most 1 KB gzipped. Pageviews
   (history API), engagement (time on page, scroll depth), custom events,
   Plausible's options (props, revenue, interactive, u, callback) and the
   queue of calls made before it loaded (window.plausible.q from
   Plausible's snippet, or window.waymark.q), run in order after the first
   pageview.
   w.full.js (FULL true): served as /w.js and for Plausible's script
   variants (/js/script.hash.outbound-links.js, ...; web/collect.go sets
   the attributes a variant's name promises). It adds:
   data-outbound, data-downloads: outbound-link clicks and file downloads as events
   data-hash: the site routes by fragment (#/page): each counts as a page
   data-manual: no automatic pageviews; call plausible("pageview", {u: ...})
   data-tagged-events: clicks on elements with class "plausible-event-name=Signup"
     (and "plausible-event-<prop>=<value>") send that event
   data-pageview-props: the tag's event-<prop>="value" attributes ride on pageviews
   data-exclude, data-include: comma-separated paths (* and ** wildcards)
     whose pageviews are not sent, or the only ones that are
   Both: data-domain, data-api (endpoint; default: the script's origin +
   /api/event), data-allow-localhost, data-allow-webdriver.
   The language comes from the beacon's Accept-Language header. */
(function (w, d, L, N) {
  var s = d.currentScript, A = function (n) { return s.getAttribute("data-" + n) != null; }, V = function (n) { return s.getAttribute("data-" + n); },
    api = V("api") || new URL("/api/event", s.src), dom = V("domain") || L.hostname, hash = FULL && A("hash"),
    hook, pid, ms = 0, since = 0, depth = 0, last, blurred, q = (w.waymark || w.plausible)?.q || [],
    skip = !A("allow-localhost") && /^(localhost|127\.|\[::1)/.test(L.hostname) || N.webdriver && !A("allow-webdriver");
  // o: Plausible's options (props, revenue, interactive, u, callback).
  function send(n, o, x) {
    o = o || {};
    var c = o.callback, p = { n: n, u: o.u || L.href, d: dom, r: d.referrer, sw: screen.width, sh: screen.height, vw: innerWidth, vh: innerHeight,
      dpr: devicePixelRatio, cd: screen.colorDepth, tz: Intl.DateTimeFormat().resolvedOptions().timeZone, pid: pid, p: o.props, $: o.revenue };
    FULL && hash && (p.h = 1);
    o.interactive === false && (p.i = !1);
    for (var k in x) p[k] = x[k];
    if (FULL && n == "pageview") {
      if (A("pageview-props")) for (var t of s.getAttributeNames()) t.startsWith("event-") && ((p.p = p.p || {})[t.slice(6)] ??= s.getAttribute(t));
      var path = L.pathname + (hash ? L.hash : ""), match = function (v) { return v && v.split(",").some(function (g) { return new RegExp("^" + g.trim().replace(/\*\*/g, ".*").replace(/([^.])\*/g, "$1[^\\s/]*") + "/?$").test(path); }); };
      if (V("include") && !match(V("include")) || match(V("exclude"))) return c && c();
    }
    if (skip || hook && !(p = hook(p))) return c && c();
    // keepalive: the request outlives the page (as sendBeacon's would); a
    // string body is text/plain, so no CORS preflight.
    fetch(api, { method: "POST", body: JSON.stringify(p), keepalive: !0 }).then(function (r) { c && c({ status: r.status }); }, function (e) { c && c({ error: e }); });
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
    if (pid && ms) send("engagement", 0, { e: ms, sd: depth }), ms = 0;
  }
  function page(o, m) {
    if (!m && (last == L.href || FULL && A("manual"))) return;
    engage();
    last = L.href; pid = Math.random().toString(16).slice(2);
    ms = depth = 0; tick(); scroll();
    send("pageview", o);
  }
  w.waymark = w.plausible = function (c, o, b) {
    c == "hook" ? hook = o : c == "pageview" ? page(o, 1) : c == "event" ? send(o, { props: b }) : send(c, o);
  };
  // A queued hook (consent) applies from the first pageview on; the other
  // queued calls run after it, in order.
  function start(h) {
    for (h of [1, 0]) q.forEach(function (x) { x[0] == "hook" == h && w.waymark.apply(0, x); }), h && page();
  }
  var hp = history.pushState;
  history.pushState = function () { hp.apply(this, arguments); page(); };
  w.addEventListener("popstate", page);
  FULL && hash && w.addEventListener("hashchange", page);
  d.addEventListener("visibilitychange", function () { d.hidden ? engage() : tick(); });
  w.addEventListener("pagehide", engage);
  // Engaged means visible and not blurred; a page opened in front counts as focused.
  ["focus", "blur"].forEach(function (e, i) { w.addEventListener(e, function () { blurred = i; tick(); }); });
  w.addEventListener("scroll", scroll); // scroll events cannot be cancelled, so this never delays scrolling
  FULL && d.addEventListener("click", function (e) {
    var a = e.target.closest?.("a"), u = a && new URL(a.href, L), t = A("tagged-events") && e.target.closest?.("[class*='plausible-event-name=']"),
      n = !a ? 0 : A("downloads") && /\.(pdf|zip|csv|xlsx?|docx?|dmg|exe)$/i.test(u.pathname) ? "File Download" :
        A("outbound") && u.host && u.host != L.host && "Outbound Link: Click";
    if (t) {
      var o = { props: {} };
      t.className.split(/\s+/).forEach(function (c) {
        var m = c.match(/^plausible-event-(.+)=(.+)$/);
        m && (m[1] == "name" ? n = m[2].replace(/\+/g, " ") : o.props[m[1]] = m[2].replace(/\+/g, " "));
      });
      a && (o.props.url = u.href);
      return send(n, o);
    }
    n && send(n, { props: { url: u.href } });
  });
  d.prerendering ? d.addEventListener("prerenderingchange", start, { once: 1 }) : start(); // count a prerendered page when shown
})(window, document, location, navigator);
