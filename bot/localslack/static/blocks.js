// Block Kit and mrkdwn rendering for the local Slack page. No framework: plain DOM.
// Everything user- or bot-provided is escaped before any markup is added.
"use strict";

const BlockKit = (() => {
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") el.className = value;
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  // The shortcodes an ops bot tends to use; others stay as :name:.
  const EMOJI = {
    white_check_mark: "\u2705", heavy_check_mark: "\u2714\ufe0f", x: "\u274c", warning: "\u26a0\ufe0f",
    rotating_light: "\u{1f6a8}", hourglass: "\u231b", hourglass_flowing_sand: "\u23f3",
    lock: "\u{1f512}", no_entry: "\u26d4", red_circle: "\u{1f534}", large_green_circle: "\u{1f7e2}",
    large_yellow_circle: "\u{1f7e1}", eyes: "\u{1f440}", tada: "\u{1f389}", information_source: "\u2139\ufe0f",
    arrows_counterclockwise: "\u{1f504}", thumbsup: "\u{1f44d}", "+1": "\u{1f44d}", mag: "\u{1f50d}",
    raised_hand: "\u270b", hand: "\u270b", stopwatch: "\u23f1\ufe0f", bar_chart: "\u{1f4ca}",
    calendar: "\u{1f4c6}", clipboard: "\u{1f4cb}", gear: "\u2699\ufe0f", construction: "\u{1f6a7}",
    alarm_clock: "\u23f0", ok: "\u{1f197}", no_entry_sign: "\u{1f6ab}", leftwards_arrow_with_hook: "\u21a9\ufe0f",
    small_blue_diamond: "\u{1f539}", robot_face: "\u{1f916}", bust_in_silhouette: "\u{1f464}",
  };

  function escapeHtml(text) {
    return String(text)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;");
  }

  // Slack's mrkdwn: <@U…>, <#C…|name>, <url|label>, <!here>, *bold*, _italic_, ~strike~,
  // `code`, ```pre```, > quotes. Input arrives with Slack's own &lt; &gt; &amp; escaping.
  function mrkdwn(text, ctx) {
    const raw = String(text || "").replace(/&lt;/g, "\u0001").replace(/&gt;/g, "\u0002")
      .replace(/&amp;/g, "&");
    const tokens = [];
    const keep = (html) => { tokens.push(html); return `\u0000${tokens.length - 1}\u0000`; };
    let s = raw.replace(/```([\s\S]*?)```/g, (_, code) => keep(`<pre>${escapeHtml(code)}</pre>`));
    s = s.replace(/`([^`\n]+)`/g, (_, code) => keep(`<code>${escapeHtml(code)}</code>`));
    s = s.replace(/<([^>\n]+)>/g, (_, inner) => keep(link(inner, ctx)));
    s = escapeHtml(s);
    s = s.replace(/(^|[\s(])\*([^*\n]+)\*(?=$|[\s).,!?:;])/g, "$1<strong>$2</strong>");
    s = s.replace(/(^|[\s(])_([^_\n]+)_(?=$|[\s).,!?:;])/g, "$1<em>$2</em>");
    s = s.replace(/(^|[\s(])~([^~\n]+)~(?=$|[\s).,!?:;])/g, "$1<del>$2</del>");
    s = s.split("\n").map((line) => line.startsWith("&gt; ")
      ? `<span class="quote">${line.slice(5)}</span>` : line).join("\n");
    s = s.replace(/:([a-z0-9_+\-]+):/g, (all, name) => EMOJI[name] || all);
    s = s.replace(/\n/g, "<br>");
    s = s.replace(/\u0000(\d+)\u0000/g, (_, i) => tokens[Number(i)]);
    return s.replace(/\u0001/g, "&lt;").replace(/\u0002/g, "&gt;");
  }

  function link(inner, ctx) {
    const [target, label] = inner.split("|", 2);
    if (target.startsWith("@")) {
      const id = target.slice(1);
      return `<span class="mention">@${escapeHtml(ctx.userName(id))}</span>`;
    }
    if (target.startsWith("#")) {
      const id = target.slice(1);
      return `<span class="mention">#${escapeHtml(label || ctx.channelName(id))}</span>`;
    }
    if (target.startsWith("!subteam^")) return `<span class="mention">@${escapeHtml(label || "group")}</span>`;
    if (target.startsWith("!")) return `<span class="mention">@${escapeHtml(target.slice(1))}</span>`;
    if (/^(https?:|mailto:)/.test(target)) {
      return `<a href="${escapeHtml(target)}" target="_blank" rel="noopener">${escapeHtml(label || target)}</a>`;
    }
    return escapeHtml(`<${inner}>`);
  }

  function textObject(obj, ctx) {
    const span = h("span", { class: "text" });
    if (!obj) return span;
    if (obj.type === "mrkdwn") span.innerHTML = mrkdwn(obj.text, ctx);
    else span.textContent = obj.text || "";
    return span;
  }

  function button(el, ctx) {
    const cls = "btn" + (el.style === "primary" ? " btn-primary" : el.style === "danger" ? " btn-danger" : "");
    return h("button", {
      type: "button", class: cls, "data-action-id": el.action_id,
      onclick: (ev) => {
        ev.preventDefault();
        // A confirm object asks first, as Slack's dialog does.
        const c = el.confirm;
        if (c && !window.confirm(`${(c.title && c.title.text) || "Are you sure?"}\n\n${(c.text && c.text.text) || ""}`)) return;
        ctx.onAction(el);
      },
    }, (el.text && el.text.text) || "Button");
  }

  function element(el, ctx) {
    if (el.type === "button") return button(el, ctx);
    if (el.type === "image") return h("img", { class: "accessory-image", src: el.image_url, alt: el.alt_text || "" });
    return h("span", { class: "unsupported" }, `[${el.type}]`);
  }

  function input(block, ctx) {
    const el = block.element || {};
    const name = `${block.block_id}/${el.action_id}`;
    const error = (ctx.errors || {})[block.block_id];
    let field;
    if (el.type === "static_select" || el.type === "radio_buttons") {
      field = h("select", { name, "data-kind": "single" },
        h("option", { value: "" }, "Choose…"),
        (el.options || []).map((o) => h("option", { value: o.value }, o.text.text)));
    } else if (el.type === "users_select") {
      field = h("select", { name, "data-kind": "single" }, h("option", { value: "" }, "Choose a person…"),
        ctx.users().map((u) => h("option", { value: u.id }, u.real_name)));
    } else if (el.type === "datepicker") {
      field = h("input", { type: "date", name, value: el.initial_date || "" });
    } else if (el.multiline) {
      field = h("textarea", { name, rows: 4, placeholder: el.placeholder && el.placeholder.text });
      field.value = el.initial_value || "";
    } else {
      field = h("input", { type: "text", name, placeholder: el.placeholder && el.placeholder.text,
        value: el.initial_value || "" });
    }
    return h("label", { class: "input-block" },
      h("span", { class: "input-label" }, block.label.text, block.optional ? h("em", {}, " (optional)") : null),
      field,
      block.hint ? h("span", { class: "hint" }, block.hint.text) : null,
      error ? h("span", { class: "field-error" }, error) : null);
  }

  function block(b, ctx) {
    switch (b.type) {
      case "header":
        // plain_text with emoji (Slack's default): shortcodes become emoji, nothing else is parsed
        return h("div", { class: "block header" }, b.text.emoji === false ? b.text.text
          : b.text.text.replace(/:([a-z0-9_+\-]+):/g, (all, name) => EMOJI[name] || all));
      case "divider":
        return h("hr", { class: "block divider" });
      case "section": {
        const body = h("div", { class: "section-body" },
          b.text ? h("div", { class: "section-text" }, textObject(b.text, ctx)) : null,
          b.fields ? h("div", { class: "fields" }, b.fields.map((f) => h("div", { class: "field" }, textObject(f, ctx)))) : null);
        return h("div", { class: "block section" }, body,
          b.accessory ? h("div", { class: "accessory" }, element(b.accessory, ctx)) : null);
      }
      case "context":
        return h("div", { class: "block context" }, (b.elements || []).map((e) =>
          e.type === "image" ? h("img", { src: e.image_url, alt: e.alt_text || "" }) : textObject(e, ctx)));
      case "actions":
        return h("div", { class: "block actions" }, (b.elements || []).map((e) => element(e, ctx)));
      case "image":
        return h("div", { class: "block image" }, h("img", { src: b.image_url, alt: b.alt_text || "" }));
      case "input":
        return input(b, ctx);
      case "rich_text":
      case "markdown":
        return null;  // the message text carries the same content
      default:
        return h("div", { class: "block unsupported" }, `[${b.type} block]`);
    }
  }

  function blocks(list, ctx) {
    return h("div", { class: "blocks" }, (list || []).map((b) => block(b, ctx)));
  }

  // Read the modal's inputs back as {block_id: {action_id: value}}.
  function collectInputs(form) {
    const values = {};
    for (const field of form.querySelectorAll("[name]")) {
      const [blockId, actionId] = field.name.split("/");
      values[blockId] = values[blockId] || {};
      values[blockId][actionId] = field.value === "" ? null : field.value;
    }
    return values;
  }

  return { h, mrkdwn, blocks, textObject, collectInputs };
})();
