// authkit's key-management page. Plain script, no dependencies. It talks
// only to its own origin, writes text (never HTML) into the page, and keeps
// a new key's secret only in the one field that shows it, until the user
// closes it: never in a URL, in storage or in a log.
"use strict";
(function () {
  const cfg = document.body.dataset;
  const $ = (id) => document.getElementById(id);

  // --- talking to the JSON handlers -------------------------------------
  async function api(method, path, body) {
    const init = {
      method: method,
      credentials: "same-origin",
      cache: "no-store",
      redirect: "error",
      headers: { "Accept": "application/json" },
    };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    // From the origin, not the page's URL: a page opened as
    // user:password@host in its address has a URL that fetch refuses.
    const res = await fetch(new URL(path, location.origin), init);
    if (res.status === 204) return null;
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      const msg = (data && (data.error_description || data.message || data.error)) || ("request failed (" + res.status + ")");
      throw new Error(msg);
    }
    return data;
  }

  const seg = (s) => encodeURIComponent(s);

  async function all(path, field) {
    const out = [];
    let after = "";
    for (let i = 0; i < 50; i++) { // at most 5,000 rows
      const q = "?limit=100" + (after ? "&after=" + seg(after) : "");
      const page = await api("GET", path + q);
      out.push(...(page[field] || []));
      if (!page.next) break;
      after = page.next;
    }
    return out;
  }

  // --- messages -----------------------------------------------------------
  function say(msg) {
    $("error").hidden = true;
    $("status").textContent = msg;
  }
  function fail(err) {
    $("status").textContent = "";
    $("error").textContent = err.message || String(err);
    $("error").hidden = false;
  }

  // --- small DOM helpers (text only) --------------------------------------
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === "text") e.textContent = v;
      else if (k === "class") e.className = v;
      else if (k.startsWith("data-") || k.startsWith("aria-")) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) e.append(c);
    return e;
  }
  function when(iso) {
    if (!iso) return el("span", { text: "—" });
    const d = new Date(iso);
    return el("time", { dateTime: iso, text: d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) });
  }
  function cell(label, child) {
    const td = el("td", { "data-label": label });
    td.append(child instanceof Node ? child : document.createTextNode(child == null || child === "" ? "—" : String(child)));
    return td;
  }

  // --- the secret, shown once -----------------------------------------------
  function showSecret(handle, token) {
    $("secret-handle").textContent = handle;
    $("secret-value").value = token;
    $("copy-status").textContent = "";
    $("secret").hidden = false;
    $("secret").focus();
    $("secret-value").select();
  }
  function hideSecret() {
    $("secret-value").value = "";
    $("secret-handle").textContent = "";
    $("copy-status").textContent = "";
    $("secret").hidden = true;
  }
  $("copy").addEventListener("click", async () => {
    const v = $("secret-value");
    try {
      await navigator.clipboard.writeText(v.value);
      $("copy-status").textContent = "Copied to the clipboard.";
    } catch (e) {
      v.select();
      $("copy-status").textContent = "Select the key and copy it (Ctrl+C or ⌘C).";
    }
  });
  $("secret-done").addEventListener("click", () => {
    hideSecret();
    $("keys-heading").focus();
  });

  // --- dialogs ----------------------------------------------------------------
  // ask shows a modal dialog and settles with true (confirm) or false
  // (cancel, Escape). Handlers are properties, so each call replaces the
  // last one's and none is left behind to answer a later dialog.
  function ask(dialog) {
    return new Promise((resolve) => {
      const ok = dialog.querySelector(".confirm"), no = dialog.querySelector(".cancel");
      const finish = (v) => {
        ok.onclick = no.onclick = dialog.oncancel = null;
        if (dialog.open) dialog.close();
        resolve(v);
      };
      ok.onclick = () => finish(true);
      no.onclick = () => finish(false);
      dialog.oncancel = (ev) => { ev.preventDefault(); finish(false); }; // Escape
      dialog.showModal();
    });
  }
  function confirmAction(title, text, action) {
    const d = $("confirm-dialog");
    $("confirm-heading").textContent = title;
    $("confirm-text").textContent = text;
    d.querySelector(".confirm").textContent = action;
    return ask(d);
  }

  // --- keys ---------------------------------------------------------------------
  let keysByHandle = new Map();

  // limitsText says in a few words what a key's policy allows.
  function limitsText(k) {
    const parts = [];
    if (k.disabled) parts.push("disabled");
    for (const l of k.ratelimits || []) parts.push(l.limit + " per " + windowText(l.window_seconds));
    if (k.credits) parts.push(k.credits.remaining + " credits left");
    const ips = (k.allowed_ips || []).length;
    if (ips) parts.push(ips === 1 ? "1 address range" : ips + " address ranges");
    return parts.length ? parts.join(", ") : "none";
  }
  function windowText(s) {
    const names = { 1: "second", 60: "minute", 3600: "hour", 86400: "day" };
    return names[s] || s + " s";
  }

  async function loadKeys() {
    const keys = await all(cfg.keys, "keys");
    keysByHandle = new Map(keys.map((k) => [k.handle, k]));
    const body = $("keys").tBodies[0];
    body.replaceChildren();
    $("keys-empty").hidden = keys.length > 0;
    $("keys").hidden = keys.length === 0;
    for (const k of keys) {
      const rotate = el("button", { type: "button", text: "Rotate", "aria-label": "Rotate " + k.handle });
      const del = el("button", { type: "button", class: "danger", text: "Delete", "aria-label": "Delete " + k.handle });
      const limits = el("button", { type: "button", text: "Limits", "aria-label": "Limits of " + k.handle });
      const usage = el("button", { type: "button", text: "Usage", "aria-label": "Usage of " + k.handle });
      rotate.addEventListener("click", () => rotateKey(k.handle));
      del.addEventListener("click", () => deleteKey(k.handle));
      limits.addEventListener("click", () => editPolicy(k.handle));
      usage.addEventListener("click", () => showUsage(k.handle));
      body.append(el("tr", { "data-handle": k.handle },
        el("th", { scope: "row", "data-label": "Name", text: k.handle }),
        cell("Description", k.alias),
        cell("Env", k.env),
        cell("Scopes", (k.scopes || []).join(" ")),
        cell("Key", el("code", { text: k.hint ? k.hint + "…" : "—" })),
        cell("ID (OAuth client id)", el("code", { class: "id", text: k.id })),
        cell("Created", when(k.created_at)),
        cell("Last used", k.last_used_at ? when(k.last_used_at) : "never"),
        cell("Expires", k.expires_at ? when(k.expires_at) : "never"),
        cell("Limits", el("span", { class: k.disabled ? "disabled-note" : "", text: limitsText(k) })),
        cell("Actions", el("span", { class: "actions" }, limits, usage, rotate, del))));
    }
  }

  $("create").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const handle = f.handle.value.trim();
    if (!handle) { fail(new Error("Give the key a name.")); f.handle.focus(); return; }
    const body = { handle: handle, env: f.env.value };
    if (f.alias.value.trim()) body.alias = f.alias.value.trim();
    const scopes = f.scopes ? f.scopes.value.split(/\s+/).filter(Boolean)
      : Array.from(f.querySelectorAll("input[name=scope]:checked"), (c) => c.value);
    if (scopes.length) body.scopes = scopes;
    if (f.expires.value) body.expires_in = Number(f.expires.value);
    try {
      const k = await api("POST", cfg.keys, body);
      f.reset();
      say("Key " + k.handle + " created.");
      await loadKeys();
      showSecret(k.handle, k.token);
      loadActivity().catch(fail);
    } catch (e) { fail(e); }
  });

  async function rotateKey(handle) {
    const d = $("rotate-dialog");
    d.querySelector(".target").textContent = handle;
    if (!(await ask(d))) return;
    try {
      const k = await api("POST", cfg.keys + "/" + seg(handle) + "/rotate", { grace_seconds: Number($("grace").value) });
      say("Key " + handle + " rotated.");
      await loadKeys();
      showSecret(handle, k.token);
    } catch (e) { fail(e); }
  }

  async function deleteKey(handle) {
    if (!(await confirmAction("Delete " + handle + "?", "Programs using this key, and every token made from it, stop working at once. This cannot be undone.", "Delete key"))) return;
    try {
      await api("DELETE", cfg.keys + "/" + seg(handle));
      hideSecret();
      say("Key " + handle + " deleted.");
      await Promise.all([loadKeys(), loadSessions()]);
      $("keys-heading").focus();
    } catch (e) { fail(e); }
  }

  // --- limits: a key's policy ------------------------------------------------------
  // editPolicy opens the dialog on the key's policy and saves what it
  // holds. The form edits the first rate limit; any others set through the
  // API are kept as they are.
  async function editPolicy(handle) {
    const k = keysByHandle.get(handle);
    if (!k) return;
    const d = $("policy-dialog");
    d.querySelector(".target").textContent = handle;
    const rl = (k.ratelimits || [])[0];
    $("p-disabled").checked = !!k.disabled;
    $("p-limit").value = rl ? rl.limit : "";
    $("p-window").value = rl ? String(rl.window_seconds) : "60";
    if (rl && $("p-window").value !== String(rl.window_seconds)) { // a window the list lacks
      $("p-window").append(el("option", { value: String(rl.window_seconds), text: rl.window_seconds + " seconds" }));
      $("p-window").value = String(rl.window_seconds);
    }
    $("p-credits").value = k.credits ? k.credits.remaining : "";
    $("p-refill").value = k.credits && k.credits.refill ? k.credits.refill.amount : "";
    $("p-refill-every").value = k.credits && k.credits.refill ? String(k.credits.refill.interval_seconds) : "86400";
    $("p-ips").value = (k.allowed_ips || []).join("\n");
    $("p-metadata").value = k.metadata && Object.keys(k.metadata).length ? JSON.stringify(k.metadata, null, 2) : "";
    for (;;) {
      if (!(await ask(d))) return;
      let body;
      try { body = policyBody(k); } catch (e) { fail(e); continue; }
      try {
        await api("PATCH", cfg.keys + "/" + seg(handle), body);
        await loadKeys();
        say("Limits of " + handle + " saved.");
        loadActivity().catch(fail);
        return;
      } catch (e) { fail(e); }
    }
  }

  function policyBody(k) {
    const num = (id) => { const v = $(id).value.trim(); return v === "" ? null : Number(v); };
    const body = { disabled: $("p-disabled").checked };
    const limit = num("p-limit"), rest = (k.ratelimits || []).slice(1);
    const first = limit == null ? [] : [{ name: ((k.ratelimits || [])[0] || {}).name || "default", limit: limit, window_seconds: Number($("p-window").value) }];
    body.ratelimits = first.concat(rest);
    const left = num("p-credits"), refill = num("p-refill");
    body.credits = left == null ? null : { remaining: left };
    if (left != null && refill != null) body.credits.refill = { amount: refill, interval_seconds: Number($("p-refill-every").value) };
    body.allowed_ips = $("p-ips").value.split(/[\s,]+/).filter(Boolean);
    const md = $("p-metadata").value.trim();
    if (md === "") body.metadata = null;
    else {
      try { body.metadata = JSON.parse(md); } catch (e) { throw new Error("Metadata must be a JSON object."); }
    }
    return body;
  }

  // --- usage: a chart per key, with its numbers in a table --------------------------
  const outcomeNames = {
    valid: "valid", rate_limited: "rate limited", usage_exceeded: "out of credits", disabled: "disabled",
    address_refused: "address refused", expired: "expired", revoked: "revoked",
  };
  const SVG = document.querySelector("#usage-chart svg").namespaceURI; // the page's own, not a literal URL
  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    for (const c of children) e.append(c);
    return e;
  }

  async function showUsage(handle) {
    try {
      const u = await api("GET", cfg.keys + "/" + seg(handle) + "/usage");
      drawUsage(handle, u);
      $("usage").hidden = false;
      $("usage-heading").focus();
    } catch (e) { fail(e); }
  }

  function hourText(iso) {
    return new Date(iso).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  function drawUsage(handle, u) {
    $("usage-handle").textContent = handle;
    $("usage-caption").textContent = handle;
    const outcomes = u.outcomes, buckets = u.buckets;
    let total = 0, max = 0;
    for (const b of buckets) { total += b.total; max = Math.max(max, b.total); }
    const refused = total - buckets.reduce((n, b) => n + b.counts.valid, 0);
    $("usage-summary").textContent = total + " requests, " + refused + " refused.";

    // The chart: one stacked bar per hour.
    const W = 480, H = 160, pad = 24, bw = (W - pad) / buckets.length;
    const top = Math.max(max, 1);
    const chart = svg("svg", { viewBox: "0 0 " + W + " " + (H + 16), role: "presentation" });
    chart.append(svg("line", { class: "axis", x1: pad, y1: H, x2: W, y2: H }));
    chart.append(svg("text", { x: 0, y: 10 }, document.createTextNode(String(top))));
    chart.append(svg("text", { x: 0, y: H }, document.createTextNode("0")));
    buckets.forEach((b, i) => {
      let y = H;
      for (const o of outcomes) {
        const n = b.counts[o];
        if (!n) continue;
        const h = (n / top) * (H - 8);
        y -= h;
        chart.append(svg("rect", { class: "o-" + o, x: (pad + i * bw + 1).toFixed(1), y: y.toFixed(1), width: (bw - 2).toFixed(1), height: h.toFixed(1), "data-outcome": o },
          svg("title", {}, document.createTextNode(hourText(b.start) + ": " + n + " " + outcomeNames[o]))));
      }
      if (i % 6 === 0) {
        chart.append(svg("text", { x: (pad + i * bw).toFixed(1), y: H + 12 },
          document.createTextNode(new Date(b.start).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" }))));
      }
    });
    $("usage-chart").replaceChildren(chart);
    $("usage-legend").replaceChildren(...outcomes.map((o) => el("li", {}, el("span", { class: "o-" + o }), outcomeNames[o])));

    // The same numbers as a table, for screen readers (and tests).
    const head = $("usage-table").tHead.rows[0];
    head.replaceChildren(el("th", { scope: "col", text: "Hour" }),
      ...outcomes.map((o) => el("th", { scope: "col", "data-outcome": o, text: outcomeNames[o] })),
      el("th", { scope: "col", text: "Total" }));
    const body = $("usage-table").tBodies[0];
    body.replaceChildren(...buckets.map((b) => el("tr", { "data-start": b.start },
      el("th", { scope: "row", text: hourText(b.start) }),
      ...outcomes.map((o) => el("td", { "data-outcome": o, text: String(b.counts[o]) })),
      el("td", { "data-outcome": "total", text: String(b.total) }))));
  }

  // --- sessions -------------------------------------------------------------------
  async function loadSessions() {
    if (!cfg.sessions) return;
    const ss = await all(cfg.sessions, "sessions");
    const body = $("sessions").tBodies[0];
    body.replaceChildren();
    $("sessions-empty").hidden = ss.length > 0;
    $("sessions").hidden = ss.length === 0;
    for (const s of ss) {
      const name = sessionName(s);
      const revoke = el("button", { type: "button", class: "danger", text: "Revoke", "aria-label": "Revoke " + name });
      revoke.addEventListener("click", () => revokeSession(s.id, name));
      body.append(el("tr", { "data-session": s.id },
        el("th", { scope: "row", "data-label": "Session", text: name }),
        cell("Kind", s.kind),
        cell("Key", s.key_handle || "your password"),
        cell("Scopes", (s.scopes || []).join(" ")),
        cell("Started", when(s.created_at)),
        cell("Ends", when(s.expires_at)),
        cell("Actions", revoke)));
    }
  }

  // sessionName names a session for people: a login by its session id, a
  // grant (an exchange of a key) by its key and when it began.
  function sessionName(s) {
    const started = new Date(s.created_at).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
    if (!s.key_id) return "your sign-in" + (s.session_id ? " " + s.session_id : "") + ", " + started;
    if (s.kind === "login") return "sign-in " + (s.session_id || "(default)") + " with " + s.key_handle;
    return "tokens for " + s.key_handle + ", " + started;
  }

  async function revokeSession(id, name) {
    if (!(await confirmAction("Revoke " + name + "?", "Its access and refresh tokens stop working at once.", "Revoke"))) return;
    try {
      await api("DELETE", cfg.sessions + "/" + seg(id));
      say("Revoked " + name + ".");
      await loadSessions();
    } catch (e) { fail(e); }
  }

  // --- activity: the audit trail, newest first -----------------------------------
  const actionNames = {
    "key.created": "key created", "key.revealed": "key shown again", "key.updated": "limits or name changed",
    "key.disabled": "key disabled", "key.enabled": "key enabled", "key.rotated": "key rotated", "key.deleted": "key deleted",
    "session.revoked": "session revoked", "refresh.reuse_detected": "a used refresh token came back: its session was revoked",
    "signing_key.revoked": "signing key revoked",
  };
  async function loadActivity() {
    if (!cfg.audit) return;
    const evs = (await all(cfg.audit, "events")).reverse();
    const body = $("activity").tBodies[0];
    $("activity-empty").hidden = evs.length > 0;
    $("activity").hidden = evs.length === 0;
    const handles = new Map(Array.from(keysByHandle.values(), (k) => [k.id, k.handle]));
    body.replaceChildren(...evs.slice(0, 200).map((e) => el("tr", { "data-action": e.action },
      el("th", { scope: "row", "data-label": "When" }, when(e.at)),
      cell("What", actionNames[e.action] || e.action),
      cell("Key or session", handles.get(e.target) || e.target),
      cell("By", e.actor.kind === "user" ? "you" : e.actor.kind === "key" ? "a program" : e.actor.kind === "admin" ? "an administrator" : "the service"),
      cell("From", e.actor.addr || "—"))));
  }

  Promise.all([loadKeys(), loadSessions()])
    .then(loadActivity)
    .then(() => { document.body.dataset.ready = "true"; })
    .catch(fail);
})();
