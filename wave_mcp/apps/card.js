/* The run card, and the host link both views share: JSON-RPC over postMessage with the host (MCP Apps).
   Every value from the API or the catalog goes into the page as text (textContent), never as HTML. */
"use strict";
var WaveCard = (function () {
  var PROTOCOL = "2026-01-26";
  var LOOK_TOOL = "look_at_run";
  var NEXT_LOOK_META = "wave-mcp/nextLookSeconds";
  var TEXT_FOLD = 280;
  var ROWS_SHOWN = 50;
  var MAX_COLUMNS = 12;

  // ---- the host link -------------------------------------------------------------------------------------
  var nextId = 1;
  var pending = {};
  var handlers = {};
  var host = { capabilities: {}, context: {} };

  function post(message) { window.parent.postMessage(message, "*"); }

  function request(method, params) {
    var id = nextId++;
    return new Promise(function (resolve, reject) {
      pending[id] = { resolve: resolve, reject: reject };
      post({ jsonrpc: "2.0", id: id, method: method, params: params || {} });
    });
  }

  function notify(method, params) { post({ jsonrpc: "2.0", method: method, params: params || {} }); }

  window.addEventListener("message", function (event) {
    if (event.source !== window.parent) return;
    var m = event.data;
    if (!m || typeof m !== "object" || m.jsonrpc !== "2.0") return;
    if (m.method === undefined && m.id !== undefined && pending[m.id]) {
      var waiter = pending[m.id];
      delete pending[m.id];
      if (m.error) waiter.reject(new Error(m.error.message || "the host refused the request"));
      else waiter.resolve(m.result);
    } else if (typeof m.method === "string" && m.id === undefined) {
      if (handlers[m.method]) handlers[m.method](m.params || {});
    } else if (typeof m.method === "string") {
      if (m.method === "ui/resource-teardown") stopFollowing();
      if (m.method === "ping" || m.method === "ui/resource-teardown") post({ jsonrpc: "2.0", id: m.id, result: {} });
      else post({ jsonrpc: "2.0", id: m.id, error: { code: -32601, message: "Method not found" } });
    }
  });

  function applyContext(context) {
    if (!context) return;
    for (var key in context) host.context[key] = context[key];
    var root = document.documentElement;
    if (context.theme === "light" || context.theme === "dark") root.setAttribute("data-theme", context.theme);
    var variables = context.styles && context.styles.variables;
    if (variables) {
      for (var name in variables) {
        if (/^--[a-z0-9-]+$/.test(name) && typeof variables[name] === "string") root.style.setProperty(name, variables[name]);
      }
    }
  }

  function watchSize() {
    var last = "";
    function send() {
      var root = document.documentElement;
      var size = { width: Math.ceil(root.scrollWidth), height: Math.ceil(root.scrollHeight) };
      var key = size.width + "x" + size.height;
      if (key !== last) { last = key; notify("ui/notifications/size-changed", size); }
    }
    if (window.ResizeObserver) new ResizeObserver(send).observe(document.body);
    send();
  }

  function callTool(name, args) {
    return request("tools/call", { name: name, arguments: args });
  }

  function textOf(result) {
    var parts = [];
    (result && result.content || []).forEach(function (block) { if (block && block.type === "text") parts.push(block.text); });
    return parts.join("\n");
  }

  // ---- small DOM helpers: text only ----------------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    for (var key in attrs || {}) {
      if (key === "text") node.textContent = attrs.text;
      else if (key === "className") node.className = attrs.className;
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), attrs[key]);
      else if (attrs[key] !== undefined && attrs[key] !== null && attrs[key] !== false) node.setAttribute(key, String(attrs[key]));
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function app() { return document.getElementById("app"); }

  function json(value, indent) {
    try { return JSON.stringify(value, null, indent); } catch (e) { return String(value); }
  }

  // ---- the result, as tables a person reads --------------------------------------------------------------
  function isScalar(value) { return value === null || typeof value !== "object"; }
  function isPlainObject(value) { return value !== null && typeof value === "object" && !Array.isArray(value); }

  function scalarNode(value) {
    if (value === null) return el("span", { className: "muted", text: "null" });
    if (typeof value === "string") {
      if (value.length <= TEXT_FOLD) return document.createTextNode(value);
      return el("details", {}, [
        el("summary", { text: value.slice(0, 120) + "… (" + value.length.toLocaleString("en") + " characters: show all)" }),
        el("pre", { text: value }),
      ]);
    }
    if (typeof value === "number") {
      return document.createTextNode(Math.abs(value) < 10000 ? String(value) : value.toLocaleString("en", { maximumFractionDigits: 20 }));
    }
    return document.createTextNode(String(value));
  }

  function valueNode(value, depth) {
    if (isScalar(value)) return scalarNode(value);
    if (Array.isArray(value)) {
      if (value.length === 0) return el("span", { className: "muted", text: "(empty list)" });
      if (value.every(isPlainObject) && depth < 2) return objectsTable(value);
      if (value.every(isScalar) && value.length <= 20) {
        return el("ul", { className: "values" }, value.map(function (v) { return el("li", {}, [scalarNode(v)]); }));
      }
    } else if (depth < 2 && Object.keys(value).length <= 40) {
      return keyValueTable(value, depth + 1);
    }
    var text = json(value, 2);
    if (text.length <= TEXT_FOLD) return el("pre", { text: text });
    return el("details", {}, [el("summary", { text: "JSON, " + text.length.toLocaleString("en") + " characters: show" }), el("pre", { text: text })]);
  }

  function keyValueTable(object, depth) {
    var rows = Object.keys(object).map(function (key) {
      var value = object[key];
      var cell = el("td", {}, [valueNode(value, depth || 0)]);
      return el("tr", {}, [el("th", { scope: "row", text: key }), cell]);
    });
    return el("div", { className: "scroll" }, [el("table", { className: "kv" }, [el("tbody", {}, rows)])]);
  }

  function objectsTable(items) {
    var columns = [];
    items.forEach(function (item) {
      Object.keys(item).forEach(function (key) { if (columns.indexOf(key) < 0 && columns.length < MAX_COLUMNS) columns.push(key); });
    });
    var body = el("tbody");
    var shown = 0;
    function more() {
      items.slice(shown, shown + ROWS_SHOWN).forEach(function (item) {
        body.appendChild(el("tr", {}, columns.map(function (key) {
          var value = item[key];
          var cell = value === undefined ? "" : isScalar(value) ? scalarNode(value) : el("code", { text: json(value) });
          return el("td", { className: typeof value === "number" ? "num" : "" }, [cell]);
        })));
      });
      shown = Math.min(items.length, shown + ROWS_SHOWN);
    }
    more();
    var table = el("table", {}, [
      el("caption", { className: "visually-hidden", text: items.length + " rows" }),
      el("thead", {}, [el("tr", {}, columns.map(function (key) { return el("th", { scope: "col", text: key }); }))]),
      body,
    ]);
    var wrap = el("div", {}, [el("div", { className: "scroll", tabindex: "0", role: "region", "aria-label": "Result table" }, [table])]);
    if (items.length > shown) {
      var note = el("p", { className: "muted" });
      var button = el("button", { type: "button" });
      var update = function () {
        note.textContent = "Showing " + shown + " of " + items.length + " rows.";
        button.textContent = "Show " + Math.min(ROWS_SHOWN, items.length - shown) + " more rows";
        if (shown >= items.length) button.remove();
      };
      button.addEventListener("click", function () { more(); update(); });
      update();
      wrap.appendChild(el("div", { className: "pager" }, [note, button]));
    }
    return wrap;
  }

  // ---- the card ------------------------------------------------------------------------------------------
  var state = { report: null, look: null, following: 0, ticker: null, seenAt: 0, age: null, offsets: [], told: false };

  function statusKind(status) {
    var key = String(status || "").trim().toLowerCase();
    return key === "running" || key === "completed" || key === "failed" ? key : "other";
  }

  function formatSeconds(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) return seconds + " s";
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + " min " + (seconds % 60) + " s";
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  function elapsed() {
    if (state.age !== null) {
      var running = state.report && statusKind(state.report.status) === "running";
      return state.age + (running ? (Date.now() - state.seenAt) / 1000 : 0);
    }
    var started = state.report && Date.parse(state.report.started_at || "");
    if (started && !isNaN(started) && state.report && statusKind(state.report.status) === "running") {
      return Math.max(0, (Date.now() - started) / 1000);
    }
    return null;
  }

  function render() {
    var report = state.report;
    var root = app();
    if (!report) return;
    var kind = statusKind(report.status);
    var title = report.workflow_name || report.workflow_id || "Wave run";
    var statusText = kind === "other" ? String(report.status) : kind.charAt(0).toUpperCase() + kind.slice(1);
    var card = el("section", { className: "card", "aria-labelledby": "run-title" }, [
      el("div", { className: "head" }, [
        el("h1", { id: "run-title", text: title }),
        el("span", { className: "badge " + kind, id: "run-status", text: statusText, title: "Status: " + report.status }),
      ]),
    ]);
    var idInput = el("input", { type: "text", readonly: "readonly", value: report.id, "aria-label": "Run id", id: "run-id" });
    idInput.value = report.id;
    var copyNote = el("span", { className: "visually-hidden", role: "status" });
    var copy = el("button", { type: "button", id: "copy-id", "aria-label": "Copy run id", text: "Copy", onclick: function () {
      idInput.focus();
      idInput.select();
      var done = function () { copy.textContent = "Copied"; copyNote.textContent = "Run id copied"; };
      var manual = function () { copy.textContent = "Press Ctrl+C"; copyNote.textContent = "Run id selected: press Control C to copy"; };
      try {
        if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(report.id).then(done, manual);
        else if (document.execCommand && document.execCommand("copy")) done(); else manual();
      } catch (e) { manual(); }
    } });
    var facts = [el("dt", { text: "Run" }), el("dd", {}, [el("div", { className: "idrow" }, [idInput, copy, copyNote])])];
    var seconds = elapsed();
    if (seconds !== null) facts.push(el("dt", { text: "Elapsed" }), el("dd", { id: "run-elapsed", text: formatSeconds(seconds) }));
    var message = state.look ? state.look.message : null;
    if (kind === "running") message = message || "running; the card follows it and updates by itself";
    if (message) facts.push(el("dt", { text: "Progress" }), el("dd", { id: "run-progress", text: message }));
    card.appendChild(el("dl", { className: "facts" }, facts));
    card.appendChild(resultSection(report, kind));
    announce("Run " + statusText.toLowerCase());
    var focused = document.activeElement && document.activeElement.id;
    root.replaceChildren(card);
    if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
  }

  // One live region outside the card, so a screen reader hears the status when it changes, not at every look.
  function announce(text) {
    var live = document.getElementById("live");
    if (!live) {
      live = el("p", { id: "live", className: "visually-hidden", role: "status", "aria-live": "polite" });
      document.body.appendChild(live);
    }
    if (live.textContent !== text) live.textContent = text;
  }

  function resultSection(report, kind) {
    var section = el("div", { id: "run-result" });
    var result = report.result;
    if (kind === "failed") {
      var said = isPlainObject(result) ? result.error || result.message || result.reason : typeof result === "string" ? result : null;
      var box = el("div", { className: "box error", role: "alert" }, [el("p", {}, [el("strong", { text: "The run failed." })])]);
      if (said !== null && said !== undefined) box.appendChild(el("p", { text: typeof said === "string" ? said : json(said) }));
      section.appendChild(box);
      if (isPlainObject(result)) {
        var rest = {};
        Object.keys(result).forEach(function (key) { if (result[key] !== said) rest[key] = result[key]; });
        if (Object.keys(rest).length) { section.appendChild(el("h2", { text: "Details" })); section.appendChild(keyValueTable(rest, 0)); }
        return section;
      }
      if (typeof result === "string") return section;
    }
    if (report.result_page) return pageSection(section, report);
    if (result === null || result === undefined) {
      if (kind === "running") section.appendChild(el("p", { className: "muted", text: "The result shows here when the run ends." }));
      else if (kind !== "failed") section.appendChild(el("p", { className: "muted", text: "The run returned no result." }));
      return section;
    }
    section.appendChild(el("h2", { text: "Result" }));
    section.appendChild(valueNode(result, 0));
    return section;
  }

  function pageSection(section, report) {
    var page = report.result_page;
    var end = page.offset + page.text.length;
    section.appendChild(el("h2", { text: "Result" }));
    section.appendChild(el("p", { id: "page-note", text: "The result is " + page.total_chars.toLocaleString("en") + " characters of JSON, too long to show at once. Characters " +
      page.offset.toLocaleString("en") + " to " + end.toLocaleString("en") + ":" }));
    var pager = el("div", { className: "pager" });
    var previous = el("button", { type: "button", text: "Previous part", disabled: state.offsets.length === 0 ? "disabled" : false,
      onclick: function () { goToPage(state.offsets.pop() || 0, false); } });
    var next = el("button", { type: "button", text: "Next part", disabled: page.next_offset === null ? "disabled" : false,
      onclick: function () { state.offsets.push(page.offset); goToPage(page.next_offset, true); } });
    pager.appendChild(previous);
    pager.appendChild(next);
    section.appendChild(pager);
    section.appendChild(el("pre", { id: "page-text", tabindex: "0", "aria-labelledby": "page-note", text: page.text }));
    return section;
  }

  function goToPage(offset, forward) {
    var id = state.report.id;
    callTool("get_run", { run_id: id, result_offset: offset }).then(function (result) {
      if (result.isError || !result.structuredContent) throw new Error(textOf(result) || "the page could not be read");
      state.report = result.structuredContent;
      render();
      var button = Array.prototype.find.call(document.querySelectorAll(".pager button"), function (b) { return b.textContent === (forward ? "Next part" : "Previous part"); });
      (button && !button.disabled ? button : document.getElementById("page-text")).focus();
    }).catch(function (error) { showError("Could not read that part of the result: " + error.message); });
  }

  function showError(text) {
    var root = app();
    var existing = document.getElementById("card-error");
    if (existing) existing.remove();
    root.appendChild(el("div", { className: "box error", role: "alert", id: "card-error" }, [el("p", { text: text })]));
  }

  // ---- following a running run ---------------------------------------------------------------------------
  function stopFollowing() {
    state.following++;
    if (state.ticker) { clearInterval(state.ticker); state.ticker = null; }
  }

  function follow(runId, pause) {
    stopFollowing();
    var token = state.following;
    var failures = 0;
    state.ticker = setInterval(function () {
      var node = document.getElementById("run-elapsed");
      var seconds = elapsed();
      if (node && seconds !== null) node.textContent = formatSeconds(seconds);
    }, 1000);
    function lookAgain(seconds) {
      setTimeout(function () {
        if (token !== state.following) return;
        callTool(LOOK_TOOL, { run_id: runId }).then(function (result) {
          if (token !== state.following) return;
          var look = result && result.structuredContent;
          if (result.isError || !look) {
            stopFollowing();
            showError("The card stopped following the run: " + (textOf(result) || "no answer") + " Ask the assistant to check it with get_run.");
            return;
          }
          failures = 0;
          state.look = look;
          if (look.report) {
            state.report = look.report;
            state.age = look.age_seconds;
            state.seenAt = Date.now();
          }
          render();
          if (look.running) lookAgain(look.next_look_seconds);
          else { stopFollowing(); tellModel(); }
        }, function (error) {
          if (token !== state.following) return;
          failures++;
          if (failures >= 5) { stopFollowing(); showError("The card stopped following the run: " + error.message); return; }
          lookAgain(Math.min(30, seconds * 2 + 1));
        });
      }, Math.max(0, seconds) * 1000);
    }
    lookAgain(pause);
  }

  function tellModel() {
    var report = state.report;
    if (!report || state.told || !host.capabilities.updateModelContext) return;
    state.told = true;
    var name = report.workflow_name ? " of '" + report.workflow_name + "'" : "";
    var after = state.age !== null ? " after " + formatSeconds(state.age) : "";
    var text = "The run card saw run " + report.id + name + " end: " + report.status + after + ".";
    if (report.result_page) text += " Its result is large (" + report.result_page.total_chars + " characters): read it with get_run.";
    else if (report.result !== null && report.result !== undefined) {
      var result = json(report.result);
      text += " Result: " + (result.length > 2000 ? result.slice(0, 2000) + "… (cut; get_run has all of it)" : result);
    }
    request("ui/update-model-context", {
      content: [{ type: "text", text: text }],
      structuredContent: { run_id: report.id, status: report.status },
    }).catch(function () { /* the host declined: the model can still call get_run */ });
  }

  // ---- what the host sends -------------------------------------------------------------------------------
  function show(result) {
    if (result.isError || !result.structuredContent) {
      stopFollowing();
      app().replaceChildren(el("div", { className: "box error", role: "alert" }, [el("p", { text: textOf(result) || "The tool failed." })]));
      return;
    }
    showRun(result.structuredContent, result._meta && result._meta[NEXT_LOOK_META]);
  }

  function showRun(report, firstLook) {
    if (!report || typeof report.id !== "string" || typeof report.status !== "string") return;
    var sameRun = state.report && state.report.id === report.id;
    state.report = report;
    state.look = null;
    state.age = null;
    state.told = false;
    if (!sameRun) state.offsets = [];
    render();
    if (statusKind(report.status) === "running") follow(report.id, typeof firstLook === "number" ? firstLook : 1);
    else stopFollowing();
  }

  function start(options) {
    handlers["ui/notifications/tool-result"] = options.onResult || show;
    handlers["ui/notifications/host-context-changed"] = applyContext;
    handlers["ui/notifications/tool-cancelled"] = function (params) {
      if (!state.report) app().replaceChildren(el("p", { className: "muted", text: "The call was cancelled" + (params.reason ? ": " + params.reason : ".") }));
    };
    request("ui/initialize", {
      appInfo: { name: options.kind === "form" ? "wave-workflow-form" : "wave-run-card", version: "@VERSION@" },
      appCapabilities: {},
      protocolVersion: PROTOCOL,
    }).then(function (result) {
      host.capabilities = (result && result.hostCapabilities) || {};
      applyContext(result && result.hostContext);
      notify("ui/notifications/initialized", {});
      watchSize();
    }, function (error) {
      app().replaceChildren(el("p", { className: "muted", text: "The host did not answer: " + error.message }));
    });
  }

  return { start: start, show: show, showRun: showRun, callTool: callTool, textOf: textOf, el: el, host: host };
})();
