// Enhancements of the consoles; every page works without them.
// - the registration form shows the chosen category's default department, and its
//   township list follows the chosen banner/district;
// - department pickers filter their options as one types;
// - the desk's live panel, the operator's own state and queue buttons, and the
//   screen-pop follow /api/v1/ivr/events (server-sent events);
// - countdowns and waits tick.
// Everything received is written with textContent, never as HTML.
(function () {
  "use strict";

  var agentStates = {ready: "就绪", paused: "示忙", offered: "振铃", busy: "通话中", wrap_up: "话后整理"};
  var systemReasons = {no_answer: "未接听（系统示忙）", unreachable: "分机不可达（系统示忙）"};
  // agentLabel is a state as the server renders it: a not-ready operator shows the reason.
  function agentLabel(a) {
    if (a.state === "paused" && a.reason) { return systemReasons[a.reason] || a.reason; }
    return agentStates[a.state] || a.state;
  }

  // phoneLabel is a phone as the server renders it: a browser phone's endpoint name
  // (PJSIP/webrtc-…) reads 浏览器电话.
  function phoneLabel(phone) {
    return /^PJSIP\/webrtc-./.test(phone || "") ? "浏览器电话" : phone;
  }

  function el(tag, text) {
    var e = document.createElement(tag);
    if (text !== undefined) { e.textContent = String(text); }
    return e;
  }
  function row(cells) {
    var tr = el("tr");
    cells.forEach(function (c) { tr.appendChild(el("td", c)); });
    return tr;
  }
  function fill(tbody, rows) {
    if (!tbody) { return; }
    while (tbody.firstChild) { tbody.removeChild(tbody.firstChild); }
    rows.forEach(function (r) { tbody.appendChild(r); });
  }
  function span(ms) {
    if (ms < 0) { ms = 0; }
    var s = Math.round(ms / 1000), m = Math.floor(s / 60);
    s = s % 60;
    if (m >= 60) { return Math.floor(m / 60) + "小时" + (m % 60) + "分"; }
    if (m > 0) { return m + "分" + (s < 10 ? "0" : "") + s + "秒"; }
    return s + "秒";
  }

  // Category → dispatch suggestion.
  var category = document.getElementById("category");
  var suggestion = document.getElementById("suggestion");
  if (category && suggestion) {
    category.addEventListener("change", function () {
      var opt = category.options[category.selectedIndex];
      var dept = opt ? opt.getAttribute("data-department") : "";
      suggestion.textContent = dept || "按所在旗区政府";
    });
  }

  // Department pickers: a search box above each, filtering the options as one types
  // (by name or code); the select stays a plain select underneath.
  document.querySelectorAll("select.dept-picker").forEach(function (sel) {
    var box = document.createElement("input");
    box.type = "search";
    box.className = "dept-search";
    box.placeholder = "输入单位名称筛选";
    box.setAttribute("aria-label", "筛选单位");
    sel.parentNode.insertBefore(box, sel);
    box.addEventListener("input", function () {
      var q = box.value.trim().toLowerCase(), first = null;
      sel.querySelectorAll("optgroup").forEach(function (g) {
        var any = false;
        g.querySelectorAll("option").forEach(function (o) {
          var hit = q === "" || o.textContent.toLowerCase().indexOf(q) >= 0 || o.value.toLowerCase().indexOf(q) >= 0;
          o.hidden = !hit;
          o.disabled = !hit;
          if (hit) { any = true; if (!first) { first = o; } }
        });
        g.hidden = !any;
      });
      if (q !== "" && first && (sel.selectedIndex < 0 || sel.options[sel.selectedIndex].disabled || sel.value === "")) {
        sel.value = first.value;
      }
    });
  });

  // The registration form's township list follows the chosen banner/district (without
  // script it is one list grouped by district).
  var district = document.getElementById("district"), township = document.getElementById("township");
  if (district && township) {
    var follow = function () {
      var code = district.value;
      township.querySelectorAll("optgroup[data-district]").forEach(function (g) {
        var on = code === "" || g.getAttribute("data-district") === code;
        g.hidden = !on;
        g.disabled = !on;
      });
      var chosen = township.options[township.selectedIndex];
      if (chosen && chosen.parentNode.disabled) { township.value = ""; }
    };
    district.addEventListener("change", follow);
    follow();
  }

  // Countdowns (portal) and waits (live panel).
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (e) {
      var left = Date.parse(e.getAttribute("data-due")) - now;
      var card = e.closest("li");
      if (isNaN(left)) { return; }
      e.textContent = left < 0 ? "已超期 " + span(-left) : "剩余 " + span(left);
      if (card) {
        card.classList.remove("due-ok", "due-near", "due-late");
        card.classList.add(left < 0 ? "due-late" : (left <= 4 * 3600 * 1000 ? "due-near" : "due-ok"));
      }
    });
    document.querySelectorAll("[data-left]").forEach(function (e) {
      var left = Date.parse(e.getAttribute("data-left")) - now;
      if (!isNaN(left)) { e.textContent = span(left); }
    });
    document.querySelectorAll("[data-since]").forEach(function (e) {
      var t = Date.parse(e.getAttribute("data-since"));
      if (!isNaN(t)) { e.textContent = span(now - t); }
    });
  }
  if (document.querySelector("[data-due],[data-since],[data-left],#live")) {
    tick();
    setInterval(tick, 1000);
  }

  // Live panel and screen-pop.
  var live = document.getElementById("live");
  if (!live || !window.EventSource) { return; }
  var me = document.getElementById("my-state");
  var user = me ? me.getAttribute("data-user") : "";

  // myState shows the operator's own state and the queue buttons that fit it: 就绪 when
  // not ready or in wrap-up (as the server renders the page), and how long a wrap-up
  // has left.
  function myState(a) {
    var state = a.state;
    me.textContent = agentLabel(a);
    me.setAttribute("data-state", state);
    var idle = state === "paused" || state === "wrap_up";
    var ready = document.getElementById("ready-form");
    if (ready) {
      ready.hidden = !idle;
      var b = document.getElementById("ready");
      if (b) { b.textContent = state === "wrap_up" ? "结束整理，就绪" : "就绪"; }
    }
    // The call controls follow the operator's conversation.
    var controls = document.getElementById("controls");
    if (controls) {
      controls.hidden = state !== "busy";
      var id = document.getElementById("call-id");
      if (id && a.call_id) { id.value = String(a.call_id); }
      var msg = document.getElementById("call-msg");
      if (msg && state !== "busy") { msg.hidden = true; }
    }
    var until = document.getElementById("my-until");
    if (until) {
      while (until.firstChild) { until.removeChild(until.firstChild); }
      if (state === "wrap_up" && a.until) {
        var d = el("span");
        d.setAttribute("data-left", a.until);
        until.appendChild(d);
        until.appendChild(document.createTextNode("后自动就绪"));
      }
      until.hidden = state !== "wrap_up";
    }
  }

  function snapshot(s) {
    if (!s) { return; }
    var at = document.getElementById("live-at");
    if (at) {
      var opts = {hour12: false};
      if (live.getAttribute("data-tz")) { opts.timeZone = live.getAttribute("data-tz"); }
      try { at.textContent = new Date(s.at).toLocaleTimeString("zh-CN", opts); } catch (e) { at.textContent = s.at; }
    }
    fill(document.getElementById("lines"), (s.lines || []).map(function (l) {
      var use = l.busy + "/" + l.channels + (l.outbound ? "（外呼 " + l.outbound + "）" : "");
      return row([l.number, l.hotline, use, l.busy < l.channels ? "空闲" : "满"]);
    }));
    var waiting = s.waiting || [];
    var wc = document.getElementById("waiting-count");
    if (wc) { wc.textContent = String(waiting.length); }
    fill(document.getElementById("waiting"), waiting.map(function (w) {
      var tr = row([w.caller, w.queue, ""]);
      tr.lastChild.setAttribute("data-since", w.since);
      return tr;
    }));
    fill(document.getElementById("agents"), (s.agents || []).map(function (a) {
      if (me && a.user === user) { myState(a); }
      var tr = row([a.name, phoneLabel(a.phone), agentLabel(a), "", a.calls]);
      tr.setAttribute("data-agent", a.user);
      tr.setAttribute("data-state", a.state);
      tr.children[3].setAttribute("data-since", a.since);
      return tr;
    }));
    tick();
  }

  // note says what a call-back is doing: the operator answered and hears ring-back while
  // the citizen's phone rings.
  function note(text) {
    var n = document.getElementById("pop-note");
    if (!n) { return; }
    n.textContent = text;
    n.hidden = !text;
  }

  function pop(p) {
    var box = document.getElementById("pop-live");
    if (!p || !box) { return; }
    document.getElementById("pop-caller").textContent = p.caller || "未知号码";
    document.getElementById("pop-line").textContent = p.line || "";
    document.getElementById("pop-hotline").textContent = p.hotline || "";
    document.getElementById("pop-wait").textContent = span(p.waited_ms || 0);
    note(p.callback ? "排队回拨：接听后系统将呼叫市民" : "");
    var list = document.getElementById("pop-tickets");
    var items = (p.tickets || []).map(function (t) {
      var li = el("li");
      var a = el("a", t.number);
      a.href = "/console/tickets/" + encodeURIComponent(t.number);
      li.appendChild(a);
      li.appendChild(document.createTextNode(" " + (t.title || "") + " · " + (t.category && t.category.name || "")));
      return li;
    });
    fill(list, items);
    document.getElementById("pop-none").hidden = items.length > 0;
    var start = document.getElementById("pop-start");
    start.href = "/console/tickets/new?phone=" + encodeURIComponent(p.caller || "") + "&call=" + encodeURIComponent(p.call_id || "");
    var last = document.getElementById("pop-last");
    if (last) { last.hidden = true; }
    var empty = document.getElementById("pop-empty");
    if (empty) { empty.hidden = true; }
    box.hidden = false;
    document.getElementById("pop").classList.add("ringing");
  }

  var source = new EventSource(live.getAttribute("data-sse"));
  function data(ev) {
    try { return JSON.parse(ev.data); } catch (e) { return null; }
  }
  source.addEventListener("snapshot", function (ev) {
    var m = data(ev);
    if (m) { snapshot(m.snapshot); }
  });
  source.addEventListener("screen_pop", function (ev) {
    var m = data(ev);
    if (m) { pop(m.screen_pop); }
  });
  source.addEventListener("call", function (ev) {
    var m = data(ev), c = m && m.call;
    var p = document.getElementById("pop");
    if (p) { p.classList.remove("ringing"); }
    if (c && c.operator && user && c.operator !== user) { return; }
    if (c && c.state === "calling_back") {
      note("回拨中：正在呼叫市民 " + (c.caller || "") + "，请稍候");
    } else {
      note("");
    }
    // What a call control led to later (the target answered, did not answer, left).
    var msg = document.getElementById("call-msg");
    if (msg && c && c.message) {
      msg.textContent = c.message;
      msg.hidden = false;
    }
  });
  source.addEventListener("open", function () { live.setAttribute("data-connected", "1"); });
})();
