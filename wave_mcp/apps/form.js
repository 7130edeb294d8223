/* The workflow form: built from the catalog's JSON Schema of the workflow's params, checked here against the same
   schema (the subset it renders; the server's own check still decides), then started with execute_workflow. */
"use strict";
var WaveForm = (function () {
  var el = WaveCard.el;
  var DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

  function typeOf(schema) {
    var type = schema.type;
    if (Array.isArray(type)) type = type.filter(function (t) { return t !== "null"; })[0];
    if (!type && Array.isArray(schema.enum)) type = "enum";
    return type || "any";
  }

  function kindOf(schema) {
    if (Array.isArray(schema.enum) && schema.enum.length && schema.enum.every(function (v) { return v === null || typeof v !== "object"; })) return "enum";
    var type = typeOf(schema);
    if (type === "string" && schema.format === "date") return "date";
    if (type === "string" || type === "number" || type === "integer" || type === "boolean") return type;
    if (type === "array" && schema.items && ["string", "number", "integer"].indexOf(typeOf(schema.items)) >= 0 && !schema.items.enum) return "list";
    return "json";
  }

  // ---- the checker: the subset of JSON Schema the form renders ------------------------------------------
  function check(value, schema, label) {
    var problems = [];
    var type = typeOf(schema);
    if (Array.isArray(schema.enum) && !schema.enum.some(function (v) { return JSON.stringify(v) === JSON.stringify(value); })) {
      return [label + " must be one of: " + schema.enum.map(String).join(", ") + "."];
    }
    if (value === null && Array.isArray(schema.type) && schema.type.indexOf("null") >= 0) return [];
    if (type === "integer" && !(typeof value === "number" && Number.isInteger(value))) return [label + " must be a whole number."];
    if (type === "number" && !(typeof value === "number" && isFinite(value))) return [label + " must be a number."];
    if (type === "string" && typeof value !== "string") return [label + " must be text."];
    if (type === "boolean" && typeof value !== "boolean") return [label + " must be true or false."];
    if (type === "array" && !Array.isArray(value)) return [label + " must be a list."];
    if (type === "object" && (value === null || typeof value !== "object" || Array.isArray(value))) return [label + " must be a JSON object."];
    if (typeof value === "number") {
      if (typeof schema.minimum === "number" && value < schema.minimum) problems.push(label + " must be at least " + schema.minimum + ".");
      if (typeof schema.maximum === "number" && value > schema.maximum) problems.push(label + " must be at most " + schema.maximum + ".");
      if (typeof schema.exclusiveMinimum === "number" && value <= schema.exclusiveMinimum) problems.push(label + " must be more than " + schema.exclusiveMinimum + ".");
      if (typeof schema.exclusiveMaximum === "number" && value >= schema.exclusiveMaximum) problems.push(label + " must be less than " + schema.exclusiveMaximum + ".");
      if (typeof schema.multipleOf === "number" && schema.multipleOf > 0 && Math.abs(value / schema.multipleOf - Math.round(value / schema.multipleOf)) > 1e-9) problems.push(label + " must be a multiple of " + schema.multipleOf + ".");
    }
    if (typeof value === "string") {
      var length = Array.from(value).length;
      if (typeof schema.minLength === "number" && length < schema.minLength) problems.push(label + " must be at least " + schema.minLength + " characters.");
      if (typeof schema.maxLength === "number" && length > schema.maxLength) problems.push(label + " must be at most " + schema.maxLength + " characters.");
      if (typeof schema.pattern === "string") {
        try { if (!new RegExp(schema.pattern, "u").test(value)) problems.push(label + " does not have the expected form."); } catch (e) { /* the server checks it */ }
      }
      if (schema.format === "date" && !validDate(value)) problems.push(label + " must be a date (YYYY-MM-DD).");
    }
    if (Array.isArray(value)) {
      if (typeof schema.minItems === "number" && value.length < schema.minItems) problems.push(label + " needs at least " + schema.minItems + " entries.");
      if (typeof schema.maxItems === "number" && value.length > schema.maxItems) problems.push(label + " takes at most " + schema.maxItems + " entries.");
      if (schema.items && typeof schema.items === "object") {
        value.forEach(function (item, index) { problems = problems.concat(check(item, schema.items, label + ", entry " + (index + 1))); });
      }
    }
    if (type === "object" && value && typeof value === "object" && !Array.isArray(value)) {
      (schema.required || []).forEach(function (key) { if (!(key in value)) problems.push(label + " needs the key '" + key + "'."); });
      var properties = schema.properties || {};
      Object.keys(value).forEach(function (key) {
        if (properties[key]) problems = problems.concat(check(value[key], properties[key], label + "." + key));
        else if (schema.additionalProperties === false) problems.push(label + " does not take the key '" + key + "'.");
      });
    }
    return problems;
  }

  function validDate(text) {
    var m = DATE.exec(text);
    if (!m) return false;
    var date = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
    return date.getUTCFullYear() === +m[1] && date.getUTCMonth() === +m[2] - 1 && date.getUTCDate() === +m[3];
  }

  // ---- the fields ----------------------------------------------------------------------------------------
  function field(name, schema, required, index) {
    var id = "f" + index;
    var kind = kindOf(schema);
    var label = schema.title || (name.charAt(0).toUpperCase() + name.slice(1)).replace(/_/g, " ");
    var help = schema.description ? el("p", { className: "help", id: id + "-help", text: schema.description }) : null;
    var error = el("p", { className: "err", id: id + "-err" });
    var describedBy = (help ? id + "-help " : "") + id + "-err";
    var hasDefault = schema.default !== undefined;
    var input;
    if (kind === "enum") {
      input = el("select", { id: id, name: name });
      if (!required || !hasDefault) input.appendChild(el("option", { value: "", text: required ? "Choose…" : "(none)" }));
      schema.enum.forEach(function (value, i) { input.appendChild(el("option", { value: String(i), text: value === null ? "null" : String(value) })); });
      if (hasDefault) {
        var at = schema.enum.findIndex(function (v) { return JSON.stringify(v) === JSON.stringify(schema.default); });
        if (at >= 0) input.value = String(at);
      }
    } else if (kind === "boolean") {
      input = el("input", { type: "checkbox", id: id, name: name });
      input.checked = schema.default === true;
    } else if (kind === "number" || kind === "integer") {
      input = el("input", { type: "number", id: id, name: name, inputmode: kind === "integer" ? "numeric" : "decimal",
        step: kind === "integer" ? "1" : "any", min: schema.minimum, max: schema.maximum });
      if (typeof schema.default === "number") input.value = String(schema.default);
    } else if (kind === "date") {
      input = el("input", { type: "date", id: id, name: name });
      if (typeof schema.default === "string") input.value = schema.default;
    } else if (kind === "string") {
      input = el("input", { type: "text", id: id, name: name, maxlength: schema.maxLength, autocomplete: "off" });
      if (typeof schema.default === "string") input.value = schema.default;
    } else {
      input = el("textarea", { id: id, name: name, rows: kind === "list" ? 3 : 4, spellcheck: "false" });
      if (kind === "list") {
        help = help || el("p", { className: "help", id: id + "-help" });
        help.appendChild(document.createTextNode((schema.description ? " " : "") + "One entry per line."));
        describedBy = id + "-help " + id + "-err";
        if (Array.isArray(schema.default)) input.value = schema.default.join("\n");
      } else {
        help = help || el("p", { className: "help", id: id + "-help" });
        help.appendChild(document.createTextNode((schema.description ? " " : "") + "As JSON."));
        describedBy = id + "-help " + id + "-err";
        if (schema.default !== undefined) input.value = JSON.stringify(schema.default, null, 2);
      }
    }
    input.setAttribute("aria-describedby", describedBy);
    if (required) { input.setAttribute("aria-required", "true"); }
    var mark = required ? el("span", { className: "req", "aria-hidden": "true", text: "*" }) : null;
    var requiredText = required ? el("span", { className: "visually-hidden", text: " (required)" }) : null;
    var box;
    if (kind === "boolean") {
      box = el("div", { className: "field" }, [el("label", { className: "check", for: id }, [input, label, mark, requiredText]), help, error]);
    } else {
      box = el("div", { className: "field" }, [el("label", { for: id }, [label, mark, requiredText]), input, help, error]);
    }
    return { name: name, schema: schema, kind: kind, required: required, input: input, error: error, label: label, box: box };
  }

  // What the field holds, as the value to send; `undefined` when it is left empty.
  function read(f) {
    var raw = f.input.value;
    if (f.kind === "boolean") return f.input.checked;
    if (f.kind === "enum") return raw === "" ? undefined : f.schema.enum[+raw];
    if (f.kind === "number" || f.kind === "integer") {
      if (f.input.validity && f.input.validity.badInput) return { bad: f.label + " must be a number." };
      return raw.trim() === "" ? undefined : Number(raw);
    }
    if (f.kind === "date" || f.kind === "string") return raw === "" ? undefined : raw;
    if (f.kind === "list") {
      var lines = raw.split("\n").map(function (s) { return s.trim(); }).filter(function (s) { return s !== ""; });
      if (!lines.length) return undefined;
      var itemKind = typeOf(f.schema.items);
      return lines.map(function (s) { return itemKind === "string" ? s : (isNaN(Number(s)) ? s : Number(s)); });
    }
    if (raw.trim() === "") return undefined;
    try { return JSON.parse(raw); } catch (e) { return { bad: f.label + " is not valid JSON: " + e.message }; }
  }

  // ---- the form ------------------------------------------------------------------------------------------
  function show(result) {
    var root = document.getElementById("app");
    var info = result && result.structuredContent;
    if (result.isError || !info || typeof info.id !== "string") {
      root.replaceChildren(el("div", { className: "box error", role: "alert" }, [el("p", { text: WaveCard.textOf(result) || "The workflow could not be shown." })]));
      return;
    }
    var schema = info.params_schema && typeof info.params_schema === "object" ? info.params_schema : { type: "object" };
    var properties = schema.properties || {};
    var required = Array.isArray(schema.required) ? schema.required : [];
    var fields = Object.keys(properties).map(function (name, i) { return field(name, properties[name] || {}, required.indexOf(name) >= 0, i); });
    var freeForm = !info.params_schema || (!fields.length && schema.additionalProperties !== false);
    if (freeForm) fields.push(field("params", { type: "object", description: "The workflow's parameters." }, false, fields.length));
    var title = info.name || info.id;
    var summary = el("div", { className: "box error", role: "alert", id: "form-errors", tabindex: "-1", hidden: "hidden" });
    var serverError = el("div", { className: "box error", role: "alert", id: "server-error", hidden: "hidden" });
    var confirmBox = el("div", { className: "box warn", id: "confirm", hidden: "hidden", role: "alertdialog", "aria-labelledby": "confirm-text" });
    // No form submission: hosts frame views without `allow-forms`, which blocks it. Run is a plain button.
    var run = el("button", { type: "button", className: "primary", id: "run", text: "Run" });
    var form = el("form", { novalidate: "novalidate", "aria-labelledby": "form-title" }, [
      el("h1", { id: "form-title", text: title }),
      info.description ? el("p", { className: "muted", text: info.description }) : null,
      fields.length ? el("p", { className: "help", text: required.length ? "Fields marked * are required." : "All fields are optional." })
        : el("p", { className: "muted", text: "This workflow takes no parameters." }),
      summary,
    ].concat(fields.map(function (f) { return f.box; })).concat([
      info.safe === true ? null : el("p", { className: "help", text: "This workflow may change data: you will be asked to confirm." }),
      confirmBox,
      serverError,
      el("div", { className: "actions" }, [run]),
    ]));

    function collect() {
      var params = {};
      var messages = [];
      var firstBad = null;
      fields.forEach(function (f) {
        var value = read(f);
        var problems = [];
        if (value && typeof value === "object" && typeof value.bad === "string") problems.push(value.bad);
        else if (value === undefined) { if (f.required) problems.push(f.label + " is required."); }
        else if (freeForm && f.name === "params") {
          problems = check(value, { type: "object" }, f.label);
          if (!problems.length) Object.assign(params, value);
        } else {
          problems = check(value, f.schema, f.label);
          params[f.name] = value;
        }
        f.error.textContent = problems.join(" ");
        f.input.setAttribute("aria-invalid", problems.length ? "true" : "false");
        if (problems.length && !firstBad) firstBad = f.input;
        messages = messages.concat(problems);
      });
      return { params: params, messages: messages, firstBad: firstBad };
    }

    function send(params) {
      run.disabled = true;
      run.textContent = "Starting…";
      serverError.hidden = true;
      var args = { workflow_id: info.id, params: params, wait_seconds: 0 };
      WaveCard.callTool("execute_workflow", args).then(function (answer) {
        if (answer.isError || !answer.structuredContent) {
          serverError.replaceChildren(el("p", { text: WaveCard.textOf(answer) || "The run was not started." }));
          serverError.hidden = false;
          run.disabled = false;
          run.textContent = "Run";
          return;
        }
        WaveCard.show(answer);
      }, function (error) {
        serverError.replaceChildren(el("p", { text: "The host did not start the run: " + error.message }));
        serverError.hidden = false;
        run.disabled = false;
        run.textContent = "Run";
      });
    }

    form.addEventListener("submit", function (event) { event.preventDefault(); });
    form.addEventListener("keydown", function (event) {
      var target = event.target;
      if (event.key === "Enter" && target && target.tagName === "INPUT" && target.type !== "checkbox") {
        event.preventDefault();
        start();
      }
    });
    run.addEventListener("click", start);

    function start() {
      if (run.disabled) return;
      var outcome = collect();
      if (outcome.messages.length) {
        summary.replaceChildren(el("p", { text: "Nothing was sent. Please fix: " }), el("ul", {}, outcome.messages.map(function (m) { return el("li", { text: m }); })));
        summary.hidden = false;
        confirmBox.hidden = true;
        (outcome.firstBad || summary).focus();
        return;
      }
      summary.hidden = true;
      if (info.safe === true) { send(outcome.params); return; }
      var yes = el("button", { type: "button", className: "primary", id: "confirm-yes", text: "Yes, run it" });
      var no = el("button", { type: "button", id: "confirm-no", text: "Cancel" });
      confirmBox.replaceChildren(
        el("p", { id: "confirm-text", text: "Run '" + title + "'? It may change data." }),
        el("div", { className: "actions" }, [yes, no]));
      confirmBox.hidden = false;
      run.disabled = true;
      yes.addEventListener("click", function () { confirmBox.hidden = true; send(outcome.params); });
      no.addEventListener("click", function () { confirmBox.hidden = true; run.disabled = false; run.focus(); });
      yes.focus();
    }
    root.replaceChildren(form);
  }

  return { show: show, check: check };
})();
