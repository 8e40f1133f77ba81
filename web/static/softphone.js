// The browser phone of the desk (templates/softphone.html). It asks rexian for this
// session's SIP credentials, registers to Asterisk over WebSocket with JsSIP
// (jssip.min.js, vendored; see jssip.LICENSE.txt) and lets the operator answer, hang up,
// mute and send keypad tones. The desk's forms (queue state, call controls, listen-in)
// are sent without leaving the page, which would end the call. Bad paths say what
// happened and keep calls safe:
//   - microphone refused or missing: nothing registers, the operator stays not ready
//     (the queue does not offer calls) and the page says why;
//   - WebSocket down: JsSIP reconnects with a growing delay (2 s to 30 s) and registers
//     again; the page says it is reconnecting;
//   - Asterisk restarted: it forgot this session's endpoint, the registration is refused,
//     the page asks rexian again (which creates it anew) with a growing delay;
//   - a second tab of the same session: only one tab holds the phone (a Web Lock); the
//     other says so and offers to take it over, which the first tab refuses while it is
//     in a call.
(function () {
  "use strict";
  var root = document.getElementById("softphone");
  if (!root) { return; }
  var $ = function (id) { return document.getElementById(id); };
  var statusEl = $("sp-status"), msgEl = $("sp-message"), callerEl = $("sp-caller");
  var answerBtn = $("sp-answer"), hangupBtn = $("sp-hangup"), muteBtn = $("sp-mute"), takeBtn = $("sp-takeover");
  var audio = $("sp-audio"), pad = $("sp-pad");
  var csrf = root.getAttribute("data-csrf");
  var LOCK = "rexian-softphone";
  var ua = null, session = null, mic = null, registered = false, stopped = false;
  var retryDelay = 2000, retryTimer = null, release = null, ringer = null;
  // dropped: the WebSocket went down since the last registration.
  var dropped = false;
  var bc = window.BroadcastChannel ? new BroadcastChannel(LOCK) : null;

  function status(text) {
    statusEl.textContent = text;
    root.setAttribute("data-status", text);
  }
  function message(text) {
    msgEl.textContent = text || "";
    msgEl.hidden = !text;
  }
  function controls() {
    var inCall = !!session && session.isEstablished();
    var ringing = !!session && !inCall;
    answerBtn.disabled = !ringing;
    hangupBtn.disabled = !session;
    muteBtn.disabled = !inCall;
    pad.querySelectorAll("button").forEach(function (b) { b.disabled = !inCall; });
  }
  status("未注册");

  if (!window.JsSIP || !window.RTCPeerConnection || !navigator.mediaDevices) {
    message("此浏览器不支持浏览器电话（需要 WebRTC 与安全连接 HTTPS）。请改用分机签入。");
    return;
  }

  // post sends a desk form without leaving the page: leaving it would end the phone.
  function post(path, fields) {
    var body = new URLSearchParams(fields);
    body.set("csrf_token", csrf);
    return fetch(path, {method: "POST", body: body, credentials: "same-origin"});
  }
  function setState(state) {
    var f = {state: state};
    if (state === "paused") { f.reason = "unreachable"; }
    return post("/console/queue/state", f).catch(function () {});
  }
  // readyIfUnreachable makes the operator ready once the phone is registered, when they
  // are not ready only because the phone could not be rung (joined before registering,
  // or the queue failed to ring it while Asterisk was away). A pause the operator chose
  // is theirs to end.
  function readyIfUnreachable() {
    var me = document.getElementById("my-state");
    var user = me && me.getAttribute("data-user");
    fetch("/api/v1/ivr/live", {credentials: "same-origin", headers: {Accept: "application/json"}}).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (s) {
      var a = s && (s.agents || []).filter(function (x) { return x.user === user; })[0];
      if (a && a.state === "paused" && a.reason === "unreachable") { setState("ready"); }
    }).catch(function () {});
  }

  // credentials asks rexian for this session's endpoint; rexian creates it again on
  // Asterisk when it was lost.
  function credentials() {
    return post("/console/softphone/credentials", {}).then(function (res) {
      var json = (res.headers.get("Content-Type") || "").indexOf("application/json") === 0;
      if (res.redirected || !json) { throw {final: true, text: "登录已过期，浏览器电话已停用。请重新登录。"}; }
      return res.json().then(function (b) {
        if (!res.ok) { throw {final: res.status < 500, text: b.error || ("HTTP " + res.status)}; }
        return b;
      });
    });
  }

  function retry(why) {
    if (stopped || retryTimer) { return; }
    message(why + "（" + Math.round(retryDelay / 1000) + " 秒后重试）");
    retryTimer = setTimeout(function () { retryTimer = null; connect(); }, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 30000);
  }

  function connect() {
    if (stopped) { return; }
    credentials().then(function (c) {
      if (stopped) { return; }
      if (ua) { ua.removeAllListeners(); ua.stop(); }
      ua = new JsSIP.UA({
        sockets: [new JsSIP.WebSocketInterface(c.ws)],
        uri: c.uri, password: c.password, display_name: c.name,
        register: true, register_expires: 120, session_timers: false,
        connection_recovery_min_interval: 2, connection_recovery_max_interval: 30,
        user_agent: "rexian console"
      });
      ua.on("disconnected", function () {
        var inCall = !!session;
        registered = false;
        dropped = true;
        if (session) {
          // Its media and dialog went with the server: end it here too.
          var s = session;
          finished(null);
          try { s.terminate(); } catch (e) { /* already over */ }
        }
        status("未注册");
        message("与电话服务器的连接中断" + (inCall ? "，本通电话已结束" : "") + "。正在重连…（此期间不会接到来电）");
      });
      ua.on("registered", function () {
        registered = true;
        retryDelay = 2000;
        status(session ? (session.isEstablished() ? "通话中" : "来电") : "已注册");
        message(dropped ? "与电话服务器的连接曾中断，现已重新注册。" : "");
        dropped = false;
        readyIfUnreachable();
      });
      ua.on("unregistered", function () { registered = false; if (!session) { status("未注册"); } });
      ua.on("registrationFailed", function (e) {
        registered = false;
        status("未注册");
        var C = JsSIP.C.causes;
        if (e.cause === C.AUTHENTICATION_ERROR || e.cause === C.REJECTED || e.cause === C.NOT_FOUND) {
          // The endpoint is gone (Asterisk restarted, or the session was revoked): ask
          // rexian again rather than retrying credentials that no longer work.
          ua.removeAllListeners();
          ua.stop();
          ua = null;
          retry("电话服务器拒绝了注册，正在重新开通浏览器电话");
        } else {
          message("注册失败（" + e.cause + "），正在重试…");
        }
      });
      ua.on("newRTCSession", function (e) { if (e.originator === "remote") { incoming(e.session, e.request); } });
      ua.start();
    }).catch(function (err) {
      status("未注册");
      if (err && err.final) {
        stopped = true;
        message(err.text);
        return;
      }
      retry("未能开通浏览器电话：" + ((err && err.text) || "网络错误"));
    });
  }

  function ring(on) {
    if (ringer) { ringer.close(); ringer = null; }
    if (!on || !window.AudioContext) { return; }
    try {
      var ctx = new AudioContext(), osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.frequency.value = 440;
      gain.gain.value = 0;
      osc.connect(gain).connect(ctx.destination);
      osc.start();
      for (var t = 0; t < 60; t += 3) {
        gain.gain.setValueAtTime(0.15, ctx.currentTime + t);
        gain.gain.setValueAtTime(0, ctx.currentTime + t + 1);
      }
      ringer = ctx;
    } catch (e) { ringer = null; }
  }

  function incoming(s, request) {
    if (session) {
      s.terminate({status_code: 486, reason_phrase: "Busy Here"});
      return;
    }
    session = s;
    root.setAttribute("data-rang-at", String(Date.now()));
    var who = s.remote_identity;
    var name = who && who.display_name, number = who && who.uri && who.uri.user;
    callerEl.textContent = "来电：" + ([name, number].filter(Boolean).join(" ") || "未知号码");
    callerEl.hidden = false;
    status("来电");
    message("");
    ring(true);
    s.on("peerconnection", function (ev) {
      ev.peerconnection.addEventListener("track", function (t) {
        if (t.streams && t.streams[0]) { audio.srcObject = t.streams[0]; }
      });
    });
    s.on("accepted", function () { ring(false); status("通话中"); controls(); });
    s.on("confirmed", function () { status("通话中"); controls(); });
    s.on("ended", function () { if (s === session) { finished(""); } });
    s.on("failed", function (e) {
      if (s !== session) { return; }
      var C = JsSIP.C.causes;
      finished(e.cause === C.CANCELED ? "来电已被对方挂断或转给其他话务员。" : e.cause === C.REJECTED || e.cause === C.BUSY ? "" : "通话未能接通（" + e.cause + "）。");
    });
    controls();
    answerBtn.focus();
  }

  // finished clears the call; text, when not null, replaces the message line.
  function finished(text) {
    if (!session) { return; }
    ring(false);
    session = null;
    audio.srcObject = null;
    callerEl.hidden = true;
    muteBtn.setAttribute("aria-pressed", "false");
    muteBtn.textContent = "静音";
    status(registered ? "已注册" : "未注册");
    if (text !== null) { message(text); }
    controls();
  }

  answerBtn.addEventListener("click", function () {
    if (!session || session.isEstablished()) { return; }
    ring(false);
    try {
      session.answer({mediaStream: mic, pcConfig: {iceServers: []}});
    } catch (e) {
      message("接听失败：" + e.message);
    }
  });
  hangupBtn.addEventListener("click", function () {
    if (session) { var s = session; try { s.terminate(); } catch (e) { finished(""); } }
  });
  muteBtn.addEventListener("click", function () {
    if (!session || !session.isEstablished()) { return; }
    var muted = session.isMuted().audio;
    if (muted) { session.unmute({audio: true}); } else { session.mute({audio: true}); }
    muteBtn.setAttribute("aria-pressed", muted ? "false" : "true");
    muteBtn.textContent = muted ? "静音" : "取消静音";
  });
  function dtmf(key) {
    if (session && session.isEstablished()) { session.sendDTMF(key, {transportType: "RFC2833"}); }
  }
  pad.addEventListener("click", function (e) {
    var k = e.target && e.target.getAttribute("data-key");
    if (k) { dtmf(k); }
  });
  document.addEventListener("keydown", function (e) {
    var t = e.target && e.target.tagName;
    if (t === "INPUT" || t === "TEXTAREA" || t === "SELECT" || e.altKey || e.ctrlKey || e.metaKey) { return; }
    if (/^[0-9*#]$/.test(e.key)) { dtmf(e.key); }
  });

  // The page holds the phone: desk forms go through fetch, other pages open in a new
  // tab, and leaving during a call asks first.
  document.querySelectorAll("form[action='/console/queue/state']").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      e.preventDefault();
      var fields = {};
      new FormData(f).forEach(function (v, k) { fields[k] = v; });
      post(f.action, fields);
    });
  });
  // The call controls and the listen-in form too: the operator's call is on this page,
  // so holding it must not reload it. What the server said (the desk page's flash or
  // error) goes to the call controls' message line.
  function said(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var e = doc.getElementById("error") || doc.getElementById("flash");
    return e ? e.textContent : "";
  }
  document.querySelectorAll("#call-form, #monitor-form").forEach(function (f) {
    var out = f.id === "call-form" ? $("call-msg") : null;
    function show(text) {
      if (!out) { message(text); return; }
      out.textContent = text;
      out.hidden = !text;
    }
    f.addEventListener("submit", function (e) {
      e.preventDefault();
      var fields = {};
      new FormData(f).forEach(function (v, k) { fields[k] = v; });
      if (e.submitter && e.submitter.name) { fields[e.submitter.name] = e.submitter.value; }
      show("正在处理…");
      // getAttribute: the buttons named "action" hide the form's action property.
      post(f.getAttribute("action"), fields).then(function (res) {
        if (res.redirected && res.url.indexOf("/console/desk") < 0) {
          return "登录已过期，操作未完成。请在新标签页中重新登录。";
        }
        return res.text().then(function (html) { return said(html) || (res.ok ? "" : "操作未完成（HTTP " + res.status + "）。"); });
      }).then(show, function () {
        show("网络错误，操作可能未完成，请查看实时状态。");
      });
    });
  });
  document.querySelectorAll("a[href^='/']").forEach(function (a) {
    if (a.getAttribute("href").indexOf("/console/desk") !== 0) {
      a.target = "_blank";
      a.rel = "noopener";
    }
  });
  window.addEventListener("beforeunload", function (e) {
    if (session) { e.preventDefault(); e.returnValue = ""; }
  });

  // start takes the microphone, then registers.
  function start() {
    stopped = false;
    takeBtn.hidden = true;
    message("");
    navigator.mediaDevices.getUserMedia({audio: true, video: false}).then(function (stream) {
      mic = stream;
      connect();
    }).catch(function (err) {
      stopped = true;
      status("未注册");
      var why = err && (err.name === "NotAllowedError" || err.name === "SecurityError") ?
        "麦克风被拒绝：请在浏览器地址栏旁允许本站使用麦克风，然后刷新本页。" :
        err && err.name === "NotFoundError" ? "未找到麦克风：请插好耳麦后刷新本页。" :
          "无法使用麦克风（" + ((err && err.name) || "未知错误") + "）。";
      message(why + "在此之前您处于未就绪状态，不会接到来电。");
      root.setAttribute("data-mic", "denied");
      setState("paused");
    });
  }

  // stop gives the phone up (to another tab).
  function stop() {
    stopped = true;
    if (retryTimer) { clearTimeout(retryTimer); retryTimer = null; }
    if (ua) { ua.removeAllListeners(); ua.stop(); ua = null; }
    if (mic) { mic.getTracks().forEach(function (t) { t.stop(); }); mic = null; }
    registered = false;
    status("未注册");
  }

  function hold() {
    return new Promise(function (resolve) { release = resolve; start(); });
  }
  function elsewhere(text) {
    status("未注册");
    message(text);
    takeBtn.hidden = false;
  }

  if (bc) {
    bc.onmessage = function (e) {
      var m = e.data || {};
      if (m.t === "takeover" && release) {
        if (session) { bc.postMessage({t: "busy"}); return; }
        stop();
        var r = release;
        release = null;
        elsewhere("浏览器电话已转到本浏览器的另一个标签页。");
        r();
      } else if (m.t === "busy" && pending) {
        pending.abort();
      }
    };
  }
  var pending = null;
  takeBtn.addEventListener("click", function () {
    if (!navigator.locks) { start(); return; }
    pending = new AbortController();
    takeBtn.disabled = true;
    message("正在从另一个标签页接管浏览器电话…");
    navigator.locks.request(LOCK, {signal: pending.signal}, function () {
      pending = null;
      takeBtn.disabled = false;
      return hold();
    }).catch(function () {
      pending = null;
      takeBtn.disabled = false;
      message("另一个标签页正在通话，通话结束后再接管。");
    });
    if (bc) { bc.postMessage({t: "takeover"}); }
  });

  if (navigator.locks) {
    navigator.locks.request(LOCK, {ifAvailable: true}, function (lock) {
      if (!lock) {
        elsewhere("浏览器电话已在本浏览器的另一个标签页中使用，来电在那里振铃。");
        return undefined;
      }
      return hold();
    });
  } else {
    start();
  }
})();
