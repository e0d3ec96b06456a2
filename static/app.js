// rollouts-dashboard: live updates over one EventSource, server-side filters in the URL,
// confirmations, keyboard shortcuts. No framework; the pages work without it.
"use strict";

// Theme first, before the page paints: light, dark, or follow the system.
(function () {
  var saved = null;
  try { saved = localStorage.getItem("theme"); } catch (e) { /* private mode */ }
  document.documentElement.dataset.theme = saved || "system";
  document.documentElement.classList.add("js");
})();

document.addEventListener("DOMContentLoaded", function () {
  var body = document.body;
  var live = document.getElementById("live");

  // ---- theme toggle
  var themes = ["system", "light", "dark"];
  var themeButton = document.getElementById("theme");
  function showTheme() {
    var t = document.documentElement.dataset.theme;
    themeButton.title = t === "system" ? "Theme: follow the system" : "Theme: " + t;
    themeButton.setAttribute("aria-label", themeButton.title + " (change)");
  }
  themeButton.addEventListener("click", function () {
    var t = document.documentElement.dataset.theme;
    var next = themes[(themes.indexOf(t) + 1) % themes.length];
    document.documentElement.dataset.theme = next;
    try { localStorage.setItem("theme", next); } catch (e) { /* ignore */ }
    showTheme();
  });
  showTheme();

  // ---- toasts
  function toast(text, bad) {
    var t = document.createElement("div");
    t.className = "toast" + (bad ? " bad" : "");
    t.setAttribute("role", bad ? "alert" : "status");
    t.textContent = text;
    document.getElementById("toasts").appendChild(t);
    setTimeout(function () { t.remove(); }, 8000);
  }

  // ---- fragment swaps that keep focus, typed text and scroll
  function swap(old, html) {
    var holder = document.createElement("template");
    holder.innerHTML = html.trim();
    var fresh = holder.content.firstElementChild;
    if (!fresh) { return; }
    var active = document.activeElement;
    var focusKey = null;
    if (active && old.contains(active)) {
      focusKey = keyOf(active);
    }
    var typed = {}, ticked = {};
    old.querySelectorAll("input:not([type=hidden]), select, textarea").forEach(function (el) {
      if (el.type === "checkbox" || el.type === "radio") { ticked[keyOf(el)] = el.checked; return; }
      if (el.value !== el.defaultValue) { typed[keyOf(el)] = el.value; }
    });
    var wasSelected = old.classList.contains("selected");
    if (old.tagName === "DETAILS" && old.open) { fresh.open = true; }
    // Inner details a person opened stay open (by their data-key).
    var opened = {};
    old.querySelectorAll("details[data-key]").forEach(function (d) { if (d.open) { opened[d.dataset.key] = true; } });
    fresh.querySelectorAll("details[data-key]").forEach(function (d) { if (opened[d.dataset.key]) { d.open = true; } });
    old.replaceWith(fresh);
    if (wasSelected) { fresh.classList.add("selected"); }
    fresh.querySelectorAll("input:not([type=hidden]), select, textarea").forEach(function (el) {
      var k = keyOf(el);
      if (Object.prototype.hasOwnProperty.call(ticked, k)) { el.checked = ticked[k]; }
      if (Object.prototype.hasOwnProperty.call(typed, k)) { el.value = typed[k]; }
    });
    if (focusKey) {
      var again = Array.prototype.find.call(fresh.querySelectorAll("a, button, input, select, textarea, [tabindex]"), function (el) {
        return keyOf(el) === focusKey;
      });
      if (again) { again.focus({ preventScroll: true }); }
    }
    countdowns();
  }
  function keyOf(el) {
    var form = el.form ? el.form.getAttribute("action") : "";
    var value = el.type === "checkbox" || el.type === "radio" ? el.value : "";
    return [el.tagName, el.name || "", el.getAttribute("href") || "", el.textContent.trim().slice(0, 40), form, value].join("|");
  }

  // ---- overview: cards, groups, filters
  function groupFor(ns) {
    var groups = document.getElementById("groups");
    var g = document.getElementById("ns-" + ns);
    if (g) { return g.querySelector(".cards"); }
    g = document.createElement("section");
    g.className = "ns-group";
    g.id = "ns-" + ns;
    g.dataset.ns = ns;
    var h = document.createElement("h2");
    h.textContent = ns;
    g.appendChild(h);
    var cards = document.createElement("div");
    cards.className = "cards";
    g.appendChild(cards);
    var after = Array.prototype.find.call(groups.children, function (s) { return s.dataset.ns > ns; });
    groups.insertBefore(g, after || null);
    return cards;
  }
  function putCard(id, ns, html) {
    var old = document.getElementById(id);
    if (old) { swap(old, html); return; }
    var slot = document.createElement("div");
    slot.className = "slot";
    var cards = groupFor(ns);
    var after = Array.prototype.find.call(cards.children, function (s) {
      var c = s.firstElementChild;
      return c && c.id > id;
    });
    cards.insertBefore(slot, after || null);
    slot.innerHTML = html;
  }
  function removeCard(id) {
    var el = document.getElementById(id);
    if (!el) { return; }
    var slot = el.parentElement;
    var group = slot.closest(".ns-group");
    slot.remove();
    if (group && !group.querySelector(".card")) { group.remove(); }
  }

  // Filters run on the server (over every rollout, not just this page's):
  // a change fetches the page for the new query and swaps its results in,
  // keeping the search box and its focus; the URL follows.
  var form = document.getElementById("filters");
  var navTimer = null, navAbort = null;
  function queryOf() {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (v, k) { if (v !== "") { params.append(k, v); } });
    return params.toString();
  }
  function navigate() {
    var qs = queryOf();
    var url = location.pathname + (qs ? "?" + qs : "");
    if (navAbort) { navAbort.abort(); }
    navAbort = new AbortController();
    fetch(url, { headers: { "Accept": "text/html" }, credentials: "same-origin", signal: navAbort.signal })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(new Error("HTTP " + r.status)); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("results");
        var old = document.getElementById("results");
        if (!fresh || !old) { location.href = url; return; }
        old.replaceWith(document.adoptNode(fresh));
        doc.querySelectorAll("[data-count]").forEach(function (c) {
          document.querySelectorAll('[data-count="' + c.dataset.count + '"]').forEach(function (mine) {
            mine.textContent = c.textContent;
          });
        });
        history.replaceState(null, "", url);
        streamUrl = doc.body.dataset.stream || streamUrl;
        body.dataset.stream = streamUrl;
        if (source) { source.close(); source = null; }
        connect();
        countdowns();
        showBulkTick();
      })
      .catch(function (err) { if (!err || err.name !== "AbortError") { location.href = url; } });
  }
  if (form) {
    form.addEventListener("input", function (e) {
      clearTimeout(navTimer);
      navTimer = setTimeout(navigate, e.target.type === "search" ? 250 : 0);
    });
    form.addEventListener("submit", function (e) { e.preventDefault(); clearTimeout(navTimer); navigate(); });
  }
  function setCounts(counts) {
    Object.keys(counts).forEach(function (k) {
      document.querySelectorAll('[data-count="' + k + '"]').forEach(function (c) { c.textContent = counts[k]; });
    });
  }

  // ---- countdowns of timed pauses and scale-down deadlines
  function countdowns() {
    var now = Date.now();
    document.querySelectorAll("time.countdown").forEach(function (t) {
      var end = Date.parse(t.getAttribute("datetime"));
      if (isNaN(end)) { return; }
      var left = Math.round((end - now) / 1000);
      if (left <= 0) { t.textContent = "ending now"; return; }
      var m = Math.floor(left / 60), s = left % 60;
      t.textContent = (m ? m + " min " : "") + s + " s left";
    });
    document.querySelectorAll("time.age").forEach(function (t) {
      var at = Date.parse(t.getAttribute("datetime"));
      if (isNaN(at)) { return; }
      var ago = Math.max(0, Math.round((now - at) / 1000));
      t.textContent = ago < 60 ? ago + " s ago" : ago < 3600 ? Math.floor(ago / 60) + " min ago" :
        ago < 86400 ? Math.floor(ago / 3600) + " h ago" : Math.floor(ago / 86400) + " d ago";
      t.title = t.getAttribute("datetime");
    });
  }
  setInterval(countdowns, 1000);
  countdowns();

  // ---- confirmations and actions without a reload
  var dialog = document.getElementById("confirm");
  var pending = null;
  document.addEventListener("submit", function (e) {
    var f = e.target;
    if (!(f instanceof HTMLFormElement) || !f.dataset.confirm) { return; }
    e.preventDefault();
    pending = f;
    document.getElementById("confirm-text").textContent = f.dataset.confirm;
    showDiff(f);
    dialog.showModal();
    document.getElementById("confirm-yes").focus();
  });
  // A rollback's confirmation says what it changes (the diff API).
  function showDiff(f) {
    var out = document.getElementById("confirm-diff");
    out.hidden = true;
    out.textContent = "";
    if (!f.dataset.diff) { return; }
    fetch(f.dataset.diff, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, j: j }; }); })
      .then(function (res) {
        if (pending !== f) { return; }
        out.textContent = res.ok ? f.dataset.diffLead + " " + res.j.summary + "."
          : "What it changes cannot be read: " + (res.j.message || "error");
        out.hidden = false;
      })
      .catch(function () {});
  }
  document.getElementById("confirm-no").addEventListener("click", function () { pending = null; dialog.close(); });
  document.getElementById("confirm-yes").addEventListener("click", function () {
    var f = pending;
    pending = null;
    dialog.close();
    if (!f) { return; }
    var buttons = f.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    // Never a silently stuck button: the server answers within 15 s
    // whatever Kubernetes does, so no answer in 30 s means the network.
    var abort = new AbortController();
    var timer = setTimeout(function () { abort.abort(); }, 30000);
    fetch(f.action, {
      method: "POST",
      headers: { "Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(new FormData(f)).toString(),
      credentials: "same-origin",
      signal: abort.signal
    }).then(function (r) {
      return r.json().then(function (j) { return { ok: r.ok, j: j }; }, function () { return { ok: r.ok, j: {} }; });
    }).then(function (res) {
      var button = f.querySelector("button");
      var what = button ? button.textContent.trim() : "Action";
      if (res.ok) { toast(what + ": " + (res.j.message === "done" ? "sent. The page updates as the rollout moves." : res.j.message)); }
      else { toast(what + " refused: " + (res.j.message || "error"), true); }
    }).catch(function (err) {
      toast(err && err.name === "AbortError"
        ? "No answer from the dashboard within 30 s: the action may or may not have been applied; the page shows what the cluster does."
        : "Could not reach the dashboard: " + err, true);
    }).finally(function () {
      clearTimeout(timer);
      buttons.forEach(function (b) { b.disabled = false; });
    });
  });

  // ---- acting on several: the overview's bar counts what each action
  // applies to among the ticked cards; the preview's form sends and shows
  // each rollout's outcome as it arrives.
  function bulkCounts() {
    var bar = document.getElementById("bulk");
    if (!bar) { return; }
    var picked = Array.prototype.filter.call(document.querySelectorAll("input.pick"), function (b) { return b.checked; });
    var count = document.getElementById("bulk-count");
    count.textContent = picked.length ? "(" + picked.length + ")" : "";
    bar.querySelectorAll("[data-bulk]").forEach(function (n) {
      var applies = picked.filter(function (b) {
        var card = b.closest(".card");
        return card && (" " + card.dataset.acts + " ").indexOf(" " + n.dataset.bulk + " ") >= 0;
      }).length;
      n.textContent = picked.length ? applies + " of " + picked.length : "";
    });
    if (picked.length) {
      var ticked = bar.querySelector("input[name=scope][value=ticked]");
      if (ticked) { ticked.checked = true; }
    }
  }
  document.addEventListener("change", function (e) {
    if (e.target.classList && e.target.classList.contains("pick")) { bulkCounts(); }
  });
  document.addEventListener("click", function (e) {
    if (!e.target || e.target.id !== "bulk-tick") { return; }
    document.querySelectorAll("input.pick").forEach(function (b) { b.checked = true; });
    bulkCounts();
  });
  function showBulkTick() {
    var tick = document.getElementById("bulk-tick");
    if (tick) { tick.hidden = false; }
    bulkCounts();
  }
  showBulkTick();

  var bulkForm = document.getElementById("bulk-confirm");
  if (bulkForm) {
    bulkForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var progress = document.getElementById("bulk-progress");
      var button = bulkForm.querySelector("button[type=submit]");
      var body = new URLSearchParams(new FormData(bulkForm)).toString();
      var cells = {}, total = 0, answered = 0, done = 0;
      bulkForm.querySelectorAll("input[name=item]").forEach(function (box) {
        var row = box.closest("tr");
        var cell = row.querySelector(".outcome");
        if (box.checked) { cells[row.dataset.key] = cell; cell.textContent = "Sending…"; total++; }
        else { cell.textContent = "Left out"; }
        box.disabled = true;
      });
      if (button) { button.disabled = true; }
      function tell() {
        progress.textContent = answered + " of " + total + " answered: " + done + " done, " + (answered - done) + " not.";
      }
      function show(line) {
        if (!line.trim()) { return; }
        var o = JSON.parse(line);
        var cell = cells[o.namespace + "/" + o.name];
        if (!cell || cell.dataset.code) { return; }
        cell.dataset.code = o.code;
        var span = document.createElement("span");
        var ok = o.code === 200;
        span.className = ok ? "outcome-done" : o.code < 500 ? "outcome-refused" : "outcome-failed";
        span.textContent = ok ? "Done" : (o.code < 500 ? "Refused" : "Failed");
        cell.textContent = "";
        cell.appendChild(span);
        if (!ok) { cell.appendChild(document.createTextNode(": " + o.message)); }
        answered++;
        if (ok) { done++; }
        tell();
      }
      function unanswered(why) {
        Object.keys(cells).forEach(function (k) {
          if (!cells[k].dataset.code) { cells[k].textContent = why; }
        });
      }
      tell();
      fetch(bulkForm.action, {
        method: "POST",
        headers: { "Accept": "application/x-ndjson", "Content-Type": "application/x-www-form-urlencoded" },
        body: body,
        credentials: "same-origin"
      }).then(function (r) {
        if (!r.ok) {
          return r.json().then(function (j) { throw new Error(j.message || "HTTP " + r.status); },
            function () { throw new Error("HTTP " + r.status); });
        }
        var reader = r.body.getReader(), decoder = new TextDecoder(), rest = "";
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) { show(rest); return; }
            var parts = (rest + decoder.decode(chunk.value, { stream: true })).split("\n");
            rest = parts.pop();
            parts.forEach(show);
            return pump();
          });
        }
        return pump();
      }).then(function () {
        unanswered("No answer: see its page");
        var again = bulkForm.querySelector("p.buttons");
        if (again) { again.hidden = true; }
        document.getElementById("bulk-heading").textContent = (button ? button.textContent.replace(/\s*\d+$/, "") : "Done") +
          ": " + done + " of " + total + " done";
      }).catch(function (err) {
        unanswered("Not known: see its page");
        progress.textContent = "The selection was not sent, or its answer broke off: " + err.message +
          ". Each rollout's page shows what the cluster does.";
      });
    });
  }

  // ---- keyboard
  var help = document.getElementById("help");
  document.getElementById("help-open").addEventListener("click", function () { help.showModal(); });
  function visibleCards() {
    return Array.prototype.slice.call(document.querySelectorAll(".card"));
  }
  document.addEventListener("keydown", function (e) {
    var tag = (e.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || e.ctrlKey || e.metaKey || e.altKey) {
      if (e.key === "Escape" && e.target.blur) { e.target.blur(); }
      return;
    }
    var search = document.getElementById("search");
    if (e.key === "/" && search) { e.preventDefault(); search.focus(); return; }
    if (e.key === "?") { e.preventDefault(); help.showModal(); return; }
    if (e.key === "j" || e.key === "k") {
      var cards = visibleCards();
      if (!cards.length) { return; }
      var i = cards.findIndex(function (c) { return c.classList.contains("selected"); });
      if (i >= 0) { cards[i].classList.remove("selected"); }
      i = e.key === "j" ? Math.min(cards.length - 1, i + 1) : Math.max(0, i - 1);
      cards[i].classList.add("selected");
      cards[i].focus({ preventScroll: true });
      cards[i].scrollIntoView({ block: "nearest" });
      return;
    }
    if (e.key === "Enter") {
      var sel = document.querySelector(".card.selected");
      var link = sel && sel.querySelector("h3 a");
      if (link) { location.href = link.href; }
    }
  });

  // ---- the History panel: read again shortly after the rollout changes
  // (the recorder writes within a second), keeping open what was open.
  var historyTimer = null;
  function refreshHistory() {
    var panel = document.getElementById("history");
    if (!panel || !panel.dataset.src) { return; }
    clearTimeout(historyTimer);
    historyTimer = setTimeout(function () {
      fetch(panel.dataset.src, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          var now = document.getElementById("history");
          if (!html || !now) { return; }
          var open = {};
          now.querySelectorAll("details[data-revision]").forEach(function (d) { open[d.dataset.revision] = d.open; });
          swap(now, html);
          document.querySelectorAll("#history details[data-revision]").forEach(function (d) {
            if (d.dataset.revision in open) { d.open = open[d.dataset.revision]; }
          });
        })
        .catch(function () {});
    }, 1500);
  }

  // ---- the live stream: reconnect with backoff, resync, pause while hidden
  var streamUrl = body.dataset.stream;
  var source = null, delay = 1000, retryTimer = null, hiddenTimer = null;
  function setLive(state, text) {
    live.className = "live live-" + state;
    live.textContent = text;
  }
  function connect() {
    if (!streamUrl || source || stopped) { return; }
    source = new EventSource(streamUrl);
    source.addEventListener("open", function () { delay = 1000; });
    source.addEventListener("error", function () {
      if (source) { source.close(); source = null; }
      setLive("reconnecting", "Reconnecting…");
      clearTimeout(retryTimer);
      retryTimer = setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    });
    // Every event the server sends (src/web/sse.rs names them, in this
    // order), each with its data parsed.
    var handlers = {
      state: function (d) {
        setLive(d.state, d.headline);
        var banner = document.getElementById("banner");
        if (banner) { swap(banner, d.html); }
      },
      card: function (d) { putCard(d.id, d.ns, d.html); bulkCounts(); },
      resync: function (d) {
        document.querySelectorAll(".card").forEach(function (c) {
          if (d.ids.indexOf(c.id) < 0) { removeCard(c.id); }
        });
      },
      counts: function (d) { setCounts(d); },
      replace: function (d) {
        var old = document.getElementById(d.id);
        if (old) { swap(old, d.html); }
        refreshHistory();
      },
      gone: function (d) {
        setLive("stale", d.message);
        toast(d.message, true);
      },
      // The sign-in ended or access was withdrawn: stop following for good.
      ended: function (d) { stopFollowing(d.message); }
    };
    Object.keys(handlers).forEach(function (name) {
      source.addEventListener(name, function (e) { handlers[name](JSON.parse(e.data)); });
    });
  }
  var stopped = false;
  function stopFollowing(message) {
    stopped = true;
    clearTimeout(retryTimer);
    if (source) { source.close(); source = null; }
    setLive("stale", message);
    toast(message, true);
  }
  // Signing out in one tab stops the live view in every other.
  var SIGNED_OUT = "rollouts-dashboard-signed-out";
  document.querySelectorAll("form.sign-out").forEach(function (f) {
    f.addEventListener("submit", function () {
      try { localStorage.setItem(SIGNED_OUT, String(Date.now())); } catch (err) { /* private mode */ }
    });
  });
  window.addEventListener("storage", function (e) {
    if (e.key === SIGNED_OUT) { stopFollowing("Signed out in another tab: sign in again to follow the rollouts."); }
  });
  document.addEventListener("visibilitychange", function () {
    clearTimeout(hiddenTimer);
    if (document.hidden) {
      hiddenTimer = setTimeout(function () {
        if (source) { source.close(); source = null; }
      }, 5000);
    } else {
      connect();
    }
  });
  connect();

  // ---- a rollout's Logs page: Follow appends new lines live (the logs
  // API's event stream, filtered as the form says); pressing it again pauses.
  var followButton = document.getElementById("logs-follow");
  if (followButton) {
    var MOST_LINES = 2000;
    var logs = null;
    var logsState = document.getElementById("logs-state");
    var column = function (role) {
      return document.getElementById("logs-" + role) || document.querySelector(".log-lines");
    };
    var appendLine = function (d) {
      var list = column(d.role);
      if (!list) { return; }
      var atEnd = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
      var li = document.createElement("li");
      if (d.isError) { li.className = "error"; }
      var time = document.createElement("time");
      time.dateTime = d.time || "";
      time.textContent = (d.time || "").slice(11).replace("Z", "").slice(0, 12);
      var pod = document.createElement("span");
      pod.className = "log-pod";
      pod.textContent = d.pod;
      var code = document.createElement("code");
      code.textContent = d.line;
      li.append(time, " ", pod, " ", code);
      list.appendChild(li);
      while (list.children.length > MOST_LINES) { list.removeChild(list.firstElementChild); }
      if (atEnd) { list.scrollTop = list.scrollHeight; }
    };
    var stopLogs = function (text) {
      if (logs) { logs.close(); logs = null; }
      followButton.setAttribute("aria-pressed", "false");
      followButton.textContent = "Follow";
      if (text) { logsState.textContent = text; }
    };
    // Like tail: each column opens at its newest line.
    document.querySelectorAll(".log-lines").forEach(function (l) { l.scrollTop = l.scrollHeight; });
    followButton.hidden = false;
    followButton.addEventListener("click", function () {
      if (logs) { stopLogs("Paused."); return; }
      logs = new EventSource(followButton.dataset.follow);
      followButton.setAttribute("aria-pressed", "true");
      followButton.textContent = "Pause";
      logsState.textContent = "Following: new lines appear as the pods write them.";
      logs.onmessage = function (e) {
        var d = JSON.parse(e.data);
        if (d.line !== undefined) {
          appendLine(d);
        } else if (d.dropped) {
          logsState.textContent = d.dropped + " lines were dropped: more than the stream sends a second.";
        } else if (d.ended) {
          stopLogs(d.ended);
        } else if (d.error) {
          logsState.textContent = d.error;
        }
      };
      logs.onerror = function () { logsState.textContent = "Reconnecting…"; };
    });
  }
});