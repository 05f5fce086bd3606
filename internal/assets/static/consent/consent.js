// Waymark consent manager: the banner, the preferences panel, script
// gating and the SDK (waymark.consent, waymark.identity). One script tag:
// <script defer src="/consent.js"></script>. No external assets.
(function () {
  "use strict";
  var d = document, w = window, key = "waymark_id";
  // Everything is fetched next to the script, so a site can mount Waymark
  // under a path (/_wm/consent.js -> /_wm/api/v1/consent).
  var me = d.currentScript && d.currentScript.src ? new URL(d.currentScript.src) : new URL("/consent.js", location.href);
  var base = me.pathname.replace(/[^\/]*$/, ""), api = base + "api/v1/consent";
  var labels = {
    "en": { accept: "Accept all", reject: "Reject all", customise: "Customise", save: "Save choices", close: "Close",
      always: "Always on", gpc: "Your browser's privacy signal (Global Privacy Control) was honoured: analytics stays off unless you turn it on here.",
      services: "Services", prefs: "Privacy choices",
      needs: "This needs a cookie to recognise your device, and your browser refuses cookies. Allow cookies for this site to use it.",
      forget: "Forget these details", notRemembered: "Your details are not remembered: you have not allowed preferences.", remembered: "Filled in with the details you entered before.",
      showAltered: "Show the altered content anyway (as text)" },
    "zh-CN": { accept: "全部接受", reject: "全部拒绝", customise: "自定义", save: "保存选择", close: "关闭",
      always: "始终开启", gpc: "已遵从您浏览器的隐私信号（全球隐私控制）：除非您在此开启，否则统计分析保持关闭。",
      services: "服务", prefs: "隐私选择",
      needs: "此功能需要 Cookie 来识别您的设备，而您的浏览器拒绝了 Cookie。请允许本站使用 Cookie 后再使用。",
      forget: "忘记这些信息", notRemembered: "您的信息不会被记住：您未允许“偏好”。", remembered: "已填入您之前输入的信息。",
      showAltered: "仍然显示被篡改的内容（纯文本）" }
  };
  var state = null, listeners = [], lastFocus = null;

  function storageOK() {
    try { w.localStorage.setItem("waymark_test", "1"); w.localStorage.removeItem("waymark_test"); return true; } catch (e) { return false; }
  }
  function cookiesOK() {
    if (!navigator.cookieEnabled) return false;
    try {
      d.cookie = "waymark_test=1; path=/; SameSite=Lax";
      var ok = d.cookie.indexOf("waymark_test=1") >= 0;
      d.cookie = "waymark_test=; path=/; max-age=0";
      return ok;
    } catch (e) { return false; }
  }
  var cookies = cookiesOK(), storage = storageOK();
  function stored(k) { try { return storage ? w.localStorage.getItem(k || key) : null; } catch (e) { return null; } }
  function request(method, body, url) {
    var h = { "Content-Type": "application/json" };
    var t = stored(), c = stored("waymark_consent");
    if (t) h["Waymark-Id"] = t;
    if (c) h["Waymark-Consent"] = c;
    // navigator.globalPrivacyControl counts like the Sec-GPC header (an
    // extension may set one without the other).
    var q = "?lang=" + encodeURIComponent(d.documentElement.lang || "") + (navigator.globalPrivacyControl ? "&gpc=1" : "");
    var target = url || api + (method === "GET" ? q : (navigator.globalPrivacyControl ? "?gpc=1" : ""));
    return fetch(target, { method: method, credentials: "same-origin", cache: "no-store", headers: h, keepalive: true,
      body: body ? JSON.stringify(body) : undefined })
      .then(function (r) { if (!r.ok) throw new Error("waymark: " + r.status); return r.status === 204 ? {} : r.json(); });
  }
  function t(k) { return (labels[(state && state.language) || "en"] || labels.en)[k]; }
  function el(tag, attrs, text) {
    var e = d.createElement(tag);
    for (var a in attrs) e.setAttribute(a, attrs[a]);
    if (text) e.textContent = text;
    return e;
  }

  function apply(prev) {
    var granted = state.purposes || {};
    // Keep the id in local storage only where cookies are refused and
    // the visitor allowed preferences storage.
    if (storage) {
      try {
        if (state.visitor_token && !cookies && granted.preferences) w.localStorage.setItem(key, state.visitor_token);
        if (state.consent_token && !cookies && granted.preferences) w.localStorage.setItem("waymark_consent", state.consent_token);
        if (!granted.preferences || !state.visitor_id) w.localStorage.removeItem(key);
        if (!granted.preferences) w.localStorage.removeItem("waymark_consent");
      } catch (e) {}
    }
    var gated = d.querySelectorAll('script[type="text/plain"][data-waymark-purpose]');
    for (var i = 0; i < gated.length; i++) {
      var s = gated[i];
      if (!granted[s.getAttribute("data-waymark-purpose")] || s.hasAttribute("data-waymark-ran")) continue;
      s.setAttribute("data-waymark-ran", "");
      var run = d.createElement("script");
      for (var j = 0; j < s.attributes.length; j++) {
        var at = s.attributes[j];
        if (at.name !== "type" && at.name.indexOf("data-waymark") !== 0) run.setAttribute(at.name, at.value);
      }
      run.text = s.text;
      s.parentNode.insertBefore(run, s.nextSibling);
    }
    var needs = d.querySelectorAll('[data-waymark-needs="cookies"]');
    for (var n = 0; n < needs.length; n++) {
      if (!cookies && !needs[n].querySelector(".wm-needs")) needs[n].appendChild(el("p", { "class": "wm-needs", role: "note" }, t("needs")));
    }
    remember();
    for (var l = 0; l < listeners.length; l++) { try { listeners[l](state, prev); } catch (e) {} }
  }

  // Remembered details: forms marked data-waymark-remember are filled from
  // what the visitor entered before (by their autocomplete tokens) and
  // saved on submit, only with the preferences consent.
  var never = /password|one-time-code|^cc-/;
  function fieldsOf(form) {
    var out = {}, els = form.querySelectorAll("input[autocomplete], select[autocomplete], textarea[autocomplete]");
    for (var i = 0; i < els.length; i++) {
      var tok = els[i].getAttribute("autocomplete").split(" ").pop();
      if (!never.test(tok) && els[i].type !== "password" && els[i].value) out[tok] = els[i].value;
    }
    return out;
  }
  function rememberCall(method, body) {
    return request(method, body, base + "api/v1/remembered");
  }
  function remember() {
    var forms = d.querySelectorAll("form[data-waymark-remember]");
    for (var i = 0; i < forms.length; i++) {
      (function (form) {
        var note = form.querySelector(".wm-remember");
        if (!note) { note = el("p", { "class": "wm-remember", role: "status" }); form.appendChild(note); }
        note.replaceChildren();
        if (!state.purposes.preferences || !state.visitor_id) {
          note.textContent = t("notRemembered");
          return;
        }
        if (!form.hasAttribute("data-wm-bound")) {
          form.setAttribute("data-wm-bound", "");
          form.addEventListener("submit", function () {
            if (state.purposes.preferences) rememberCall("PUT", { fields: fieldsOf(form) }).catch(function () {});
          });
        }
        rememberCall("GET").then(function (r) {
          var filled = 0, els = form.querySelectorAll("[autocomplete]");
          for (var j = 0; j < els.length; j++) {
            var tok = els[j].getAttribute("autocomplete").split(" ").pop();
            if (r.fields && r.fields[tok] && !els[j].value) { els[j].value = r.fields[tok]; filled++; }
          }
          if (filled) {
            var forget = el("button", { type: "button", "class": "wm-forget" }, t("forget"));
            forget.onclick = function () {
              rememberCall("DELETE").then(function () {
                for (var k = 0; k < els.length; k++) els[k].value = "";
                note.replaceChildren();
              });
            };
            note.append(t("remembered") + " ", forget);
          }
        }).catch(function () {});
      })(forms[i]);
    }
  }

  function decide(purposes, source, explicit) {
    var prev = state;
    return request("POST", { purposes: purposes, source: source, explicit: !!explicit, language: state && state.language })
      .then(function (s) { s.policy = prev && prev.policy; s.gpc = prev && prev.gpc; state = s; close(); apply(prev); return s; });
  }
  function all(on) {
    var p = {};
    (state.policy.purposes || []).forEach(function (x) { p[x.id] = on || x.required; });
    return p;
  }

  var box = null;
  function close() {
    if (box) { box.remove(); box = null; d.removeEventListener("keydown", trap, true); if (lastFocus && lastFocus.focus) lastFocus.focus(); }
  }
  function trap(e) {
    if (!box || e.key !== "Tab") return;
    var f = box.querySelectorAll("button, input:not([disabled]), a[href]");
    if (!f.length) return;
    var first = f[0], last = f[f.length - 1];
    if (e.shiftKey && d.activeElement === first) { e.preventDefault(); last.focus(); }
    else if (!e.shiftKey && d.activeElement === last) { e.preventDefault(); first.focus(); }
  }
  // buttons are "Accept all" and "Reject all" (bulk choices, not purpose
  // by purpose) beside extra; source says where they are: the banner's
  // first layer or the preferences layer, as the receipt records it.
  function buttons(extra, source) {
    var row = el("div", { "class": "wm-buttons" });
    var acc = el("button", { type: "button", "class": "wm-btn", "data-wm": "accept" }, t("accept"));
    var rej = el("button", { type: "button", "class": "wm-btn", "data-wm": "reject" }, t("reject"));
    acc.onclick = function () { decide(all(true), source, false); };
    rej.onclick = function () { decide(all(false), source, false); };
    row.append(acc, rej);
    if (extra) row.append(extra);
    return row;
  }
  function open(second) {
    close();
    lastFocus = d.activeElement;
    var pol = state.policy;
    box = el("div", { "class": "wm-consent", role: "dialog", "aria-modal": "true", "aria-labelledby": "wm-title", "aria-describedby": "wm-desc", lang: state.language });
    box.append(el("h2", { id: "wm-title" }, pol.banner.title), el("p", { id: "wm-desc" }, pol.banner.description));
    if (state.gpc) box.append(el("p", { "class": "wm-gpc", role: "status" }, t("gpc")));
    if (!second) {
      var cust = el("button", { type: "button", "class": "wm-btn", "data-wm": "customise" }, t("customise"));
      cust.onclick = function () { open(true); };
      box.append(buttons(cust, "banner"));
    } else {
      var form = el("form", { "class": "wm-purposes" });
      pol.purposes.forEach(function (p) {
        var id = "wm-p-" + p.id, row = el("div", { "class": "wm-purpose" });
        var cb = el("input", { type: "checkbox", id: id, name: p.id });
        cb.checked = !!state.purposes[p.id] || p.required;
        if (p.required) cb.disabled = true;
        var lab = el("label", { "for": id }, p.text.title + (p.required ? " (" + t("always") + ")" : ""));
        row.append(cb, lab, el("p", { "class": "wm-desc" }, p.text.description));
        if (p.services && p.services.length) {
          var ul = el("ul", { "aria-label": t("services") });
          p.services.forEach(function (s) { ul.append(el("li", {}, s.title + (s.description ? ": " + s.description : ""))); });
          row.append(ul);
        }
        form.append(row);
      });
      var save = el("button", { type: "button", "class": "wm-btn", "data-wm": "save" }, t("save"));
      var submit = function () {
        var p = {};
        pol.purposes.forEach(function (x) { p[x.id] = d.getElementById("wm-p-" + x.id).checked; });
        decide(p, "preferences", true);
      };
      save.onclick = submit;
      form.onsubmit = function (e) { e.preventDefault(); submit(); };
      box.append(form, buttons(save, "preferences"));
      if (!state.prompt) {
        var x = el("button", { type: "button", "class": "wm-close", "aria-label": t("close") }, "×");
        x.onclick = close;
        box.prepend(x);
      }
    }
    d.body.append(box);
    d.addEventListener("keydown", trap, true);
    var b = box.querySelector("button.wm-btn");
    if (b) b.focus();
  }

  // Outbound links inside elements marked data-waymark-links go through
  // Waymark's gateway (go?...), which checks the destination first. The
  // server signs the links for this browser (a security cookie ties them
  // to it); without an answer the links stay as they are.
  function links() {
    var as = [], urls = [];
    d.querySelectorAll("[data-waymark-links] a[href]").forEach(function (a) {
      var u;
      try { u = new URL(a.href, location.href); } catch (e) { return; }
      if ((u.protocol === "http:" || u.protocol === "https:") && u.host !== location.host && !a.hasAttribute("data-waymark-href") && urls.length < 500) {
        as.push(a); urls.push(u.href);
      }
    });
    if (!urls.length) return;
    var tracker = d.querySelector("script[data-domain]");
    var body = { urls: urls, page: location.href };
    if (tracker) body.domain = tracker.getAttribute("data-domain");
    request("POST", body, base + "api/v1/links/sign").then(function (r) {
      (r.links || []).forEach(function (l, i) {
        as[i].setAttribute("data-waymark-href", as[i].href);
        as[i].href = base + l.replace(/^\//, "");
      });
      d.documentElement.setAttribute("data-waymark-links-ready", "");
    }).catch(function () {});
  }

  // Content checks: an element marked data-waymark-verify="URL" gets that
  // URL's text, shown only as text, with a badge saying whether its
  // Content-Digest and Ed25519 signature (RFC 9530, RFC 9421, as the
  // secure channel makes them) hold against the keys Waymark publishes.
  // Needs WebCrypto's Ed25519; without it the badge says the check could
  // not be made.
  var keySet = null;
  function bytes(s) {
    var bin = atob(s), a = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) a[i] = bin.charCodeAt(i);
    return a;
  }
  function member(field, label) {
    var m = (field || "").match(new RegExp("(?:^|,\\s*)" + label + "=(.*?)(?=,\\s*[a-z*][a-z0-9_.*-]*=|$)"));
    return m ? m[1] : null;
  }
  function keys() {
    keySet = keySet || fetch(base + ".well-known/waymark/keys", { cache: "no-store" }).then(function (r) { return r.json(); })
      .then(function (j) { var m = {}; (j.keys || []).forEach(function (k) { m[k.kid] = k; }); return m; });
    return keySet;
  }
  function verifyContent(url) {
    var target = new URL(url, location.href).href;
    // The channel signs what is asked for (RFC 9421 section 5.1).
    return fetch(url, { cache: "no-store", credentials: "same-origin", headers: { "Accept-Signature": 'waymark=("@status" "content-digest" "content-type" "@target-uri";req);alg="ed25519"' } }).then(function (r) {
      return r.arrayBuffer().then(function (buf) {
        var text = new TextDecoder().decode(buf);
        var fail = function (reason) { return { ok: false, reason: reason, text: text }; };
        var input = member(r.headers.get("Signature-Input"), "waymark"), sig = member(r.headers.get("Signature"), "waymark");
        var digest = r.headers.get("Content-Digest") || "";
        if (!input || !sig || input.charAt(0) !== "(") return fail("the content carries no signature");
        var covered = input.slice(1, input.indexOf(")")).split(" "), lines = [];
        for (var i = 0; i < covered.length; i++) {
          var c = covered[i], v = null;
          if (c === '"@status"') v = ("00" + r.status).slice(-3);
          else if (c === '"content-digest"') v = digest;
          else if (c === '"content-type"') v = r.headers.get("Content-Type");
          else if (c === '"@target-uri";req') v = target;
          if (v === null) return fail("the signature covers " + c + ", which this check does not know");
          lines.push(c + ": " + v);
        }
        var base64sig = sig.replace(/^:|:$/g, "");
        var kid = (input.match(/;keyid="([^"]*)"/) || [])[1], exp = (input.match(/;expires=(\d+)/) || [])[1];
        if (exp && Date.now() / 1000 > +exp + 60) return fail("the signature has expired");
        var data = new TextEncoder().encode(lines.join("\n") + '\n"@signature-params": ' + input);
        return keys().then(function (ks) {
          var k = ks[kid];
          if (!k) return fail("the signing key is not among the published keys");
          return crypto.subtle.importKey("jwk", { kty: "OKP", crv: "Ed25519", x: k.x }, { name: "Ed25519" }, false, ["verify"])
            .then(function (key) { return crypto.subtle.verify({ name: "Ed25519" }, key, bytes(base64sig), data); })
            .then(function (good) {
              if (!good) return fail("the status, type, address or digest differs from what was signed");
              return crypto.subtle.digest("SHA-256", buf).then(function (h) {
                var want = (digest.match(/sha-256=:([^:]*):/) || [])[1];
                var got = btoa(String.fromCharCode.apply(null, new Uint8Array(h)));
                if (got !== want) return fail("the body was changed on the way (it does not match its Content-Digest)");
                return { ok: true, keyid: kid, text: text };
              });
            });
        });
      });
    }).catch(function (e) { return { ok: false, reason: "the check could not be made (" + e.message + ")", text: "" }; });
  }
  function verifyAll() {
    d.querySelectorAll("[data-waymark-verify]").forEach(function (elm) {
      verifyContent(elm.getAttribute("data-waymark-verify")).then(function (v) {
        var p = el("p", {}, v.text), badge = el("p", { "class": "wm-verified " + (v.ok ? "wm-ok" : "wm-bad"), role: "status",
          "data-verified": v.ok ? "yes" : "no" }, v.ok ? "Content verified: signed by " + v.keyid + "." : "Content not verified: " + v.reason + ".");
        if (v.ok) { elm.replaceChildren(p, badge); return; }
        // Content that fails its check stays behind the warning, as text,
        // to be opened only on purpose.
        var held = el("details", { "class": "wm-held" });
        held.append(el("summary", {}, t("showAltered")), p);
        elm.replaceChildren(badge, held);
      });
    });
  }

  function start() {
    verifyAll();
    links();
    var css = el("link", { rel: "stylesheet", href: base + "consent.css" });
    d.head.append(css);
    d.addEventListener("click", function (e) {
      var a = e.target.closest && e.target.closest("[data-waymark-preferences]");
      if (a && state) { e.preventDefault(); open(true); }
    });
    request("GET").then(function (s) {
      state = s;
      apply(null);
      var bot = /bot|crawl|spider|slurp|headlesschrome/i.test(navigator.userAgent);
      if (s.prompt && !bot) open(false);
    }).catch(function () {});
  }

  var wm = w.waymark = w.waymark || function () { (wm.q = wm.q || []).push(arguments); };
  wm.consent = {
    get: function () { return state; },
    set: function (purposes) { return decide(purposes, "api", true); },
    open: function () { if (state) open(true); },
    onChange: function (fn) { listeners.push(fn); }
  };
  wm.integrity = { verify: verifyContent };
  wm.identity = {
    id: function () { return state && state.visitor_id || null; },
    storage: function () { return !state || !state.visitor_id ? "none" : cookies ? "cookie" : "localStorage"; },
    cookies: function () { return cookies; }
  };
  if (d.readyState === "loading") d.addEventListener("DOMContentLoaded", start); else start();
})();
