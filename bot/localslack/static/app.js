// The local Slack page: polls /ui/state, renders channels, threads, Home and modals,
// and posts what the selected person does to /ui/<action> (delivered to the bot as Slack would).
"use strict";

(() => {
  const { h, mrkdwn, blocks, collectInputs } = BlockKit;
  const $ = (id) => document.getElementById(id);
  const view = {
    user: localStorage.getItem("localslack.user") || null,
    channel: null,     // channel id, or "home"
    thread: null,      // parent ts of the open thread
    data: null,        // last /ui/state answer
    version: null,
  };

  const ctx = {
    userName: (id) => {
      if (!view.data) return id;
      if (id === view.data.bot.id) return view.data.bot.name;
      const user = view.data.users.find((u) => u.id === id);
      return user ? user.name : id;
    },
    channelName: (id) => {
      const ch = view.data && view.data.channels.find((c) => c.id === id);
      return ch ? ch.name : id;
    },
    users: () => (view.data ? view.data.users : []),
  };

  // -- talking to the server ------------------------------------------------------------

  // The server wrote this page's token into it; every action carries it back (a page from
  // another site cannot read it, so it cannot act as anyone here).
  const uiToken = (document.querySelector('meta[name="opshand-ui-token"]') || {}).content || "";

  async function post(action, body) {
    const response = await fetch(`/ui/${action}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Opshand-UI-Token": uiToken },
      body: JSON.stringify({ user: view.user, ...body }),
    });
    const answer = await response.json().catch(() => ({ ok: false, error: "bad answer" }));
    if (!answer.ok) toast(answer.error || "failed", true);
    else if (answer.status !== undefined && (answer.status < 200 || answer.status >= 300)) {
      toast(answer.status === 0 ? "The bot did not answer within 3 seconds."
        : `The bot answered HTTP ${answer.status}.`, true);
    }
    poll(true);
    return answer;
  }

  async function poll(force) {
    const since = force || view.version === null ? "" : `&since=${view.version}`;
    try {
      const response = await fetch(`/ui/state?user=${encodeURIComponent(view.user || "")}${since}`);
      const data = await response.json();
      if (data.changed) {
        view.data = data;
        view.version = data.version;
        render();
      }
    } catch (err) {
      // The server may be restarting; the next poll tries again.
    }
  }

  let toastTimer = null;
  function toast(text, isError) {
    const el = $("toast");
    el.textContent = text;
    el.className = "toast" + (isError ? " error" : "");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => el.classList.add("hidden"), 5000);
  }

  // -- rendering ------------------------------------------------------------------------

  function render() {
    const data = view.data;
    if (!view.user || !data.users.some((u) => u.id === view.user)) view.user = data.users[0].id;
    if (!view.channel) {
      const wanted = location.hash.slice(1);
      view.channel = data.channels.some((c) => c.id === wanted) ? wanted : data.channels[0].id;
    }
    $("workspace-name").textContent = data.team.name;
    renderUsers(data);
    renderChannels(data);
    renderGuide(data);
    if (view.channel === "home") renderHome(data);
    else renderChannel(data, currentChannel(data));
    renderThread(data);
    renderModal(data);
  }

  function renderUsers(data) {
    const select = $("user-select");
    const options = data.users.map((u) =>
      h("option", { value: u.id, selected: u.id === view.user }, `${u.real_name} — ${u.title || u.name}`));
    select.replaceChildren(...options);
  }

  function renderChannels(data) {
    $("channel-list").replaceChildren(...data.channels.map((c) => h("li", {},
      h("button", {
        type: "button",
        class: "nav-item" + (c.id === view.channel ? " active" : ""),
        onclick: () => { view.channel = c.id; view.thread = null; location.hash = c.id; render(); },
      }, `# ${c.name}`))));
    $("home-link").className = "nav-item" + (view.channel === "home" ? " active" : "");
    $("dm-link").className = "nav-item" + (view.channel === "dm" ? " active" : "");
  }

  // The guide: a welcome, who is who, and numbered steps. A step switches person, channel
  // and thread as it says, and fills the message box; the visitor presses Enter to send.
  // Done steps are remembered per workspace session: a restarted demo starts the list over.
  let done = new Set();
  let doneSession = null;
  function loadDone(session) {
    if (session === doneSession) return;
    doneSession = session;
    const saved = JSON.parse(localStorage.getItem("localslack.done") || "{}");
    done = new Set(saved.session === session ? saved.steps : []);
  }
  let guideHidden = localStorage.getItem("localslack.guide") === "hidden";

  function renderGuide(data) {
    loadDone(data.session);
    const steps = data.try_this || [];
    $("guide").classList.toggle("hidden", (steps.length === 0 && !data.intro) || view.channel === "home");
    $("guide-body").classList.toggle("hidden", guideHidden);
    $("guide-toggle").textContent = guideHidden ? "Show" : "Hide";
    const intro = $("intro");
    intro.innerHTML = mrkdwn(data.intro || "", ctx);
    // Once the visitor has started, the steps matter more than the welcome; the switcher
    // still shows everyone's role.
    const started = done.size > 0;
    intro.classList.toggle("hidden", !data.intro || started);
    $("cast").classList.toggle("hidden", started);
    $("cast").replaceChildren(...data.users.map((u) => h("li", {
      class: "cast-member" + (u.id === view.user ? " current" : ""),
    }, h("strong", {}, u.real_name), ` (@${u.name}) — ${u.title || "member"}`,
      u.id === view.user ? h("span", { class: "you" }, " ← you") : null)));
    const next = steps.findIndex((_, i) => !done.has(i));
    $("try-this").replaceChildren(...steps.map((step, i) => h("li", {
      class: "step" + (done.has(i) ? " done" : "") + (i === next ? " next" : ""),
    },
    h("button", { type: "button", class: "chip", "data-step": i + 1, onclick: () => takeStep(step, i) }, step.title),
    step.say ? h("code", { class: "step-say" }, step.say) : null,
    step.user ? h("span", { class: "step-as" }, `as @${step.user}`) : null,
    step.hint ? h("span", { class: "step-hint" }, step.hint) : null)));
  }

  function switchUser(id) {
    view.user = id;
    localStorage.setItem("localslack.user", id);
    if (view.channel === "home") post("home", {});
  }

  function takeStep(step, index) {
    const data = view.data;
    if (step.user) {
      const user = data.users.find((u) => u.name === step.user);
      if (user && user.id !== view.user) switchUser(user.id);
    }
    if (step.channel) {
      const ch = data.channels.find((c) => c.name === step.channel);
      if (ch) { view.channel = ch.id; view.thread = null; location.hash = ch.id; }
    } else if (view.channel === "home") {
      view.channel = data.channels[0].id;
    }
    if (step.open_thread) {
      const channelId = currentChannel(data).id;
      const parents = (data.messages[channelId] || []).filter((m) =>
        (!m.thread_ts || m.thread_ts === m.ts) && m.reply_count && (m.text || "").includes(step.open_thread));
      if (parents.length) view.thread = parents[parents.length - 1].ts;
      else toast(`No thread mentioning “${step.open_thread}” here yet.`, true);
    }
    if (step.run) {
      // A step action runs on the server (e.g. an alert sent to the signal webhook).
      post("step", { name: step.run }).then((answer) => { if (answer.ok) toast(answer.text); });
    }
    done.add(index);
    localStorage.setItem("localslack.done", JSON.stringify({ session: doneSession, steps: [...done] }));
    render();
    poll(true);
    if (step.say) {
      const input = $("message-input");
      input.value = step.say;
      input.focus();
    }
  }

  function authorName(m) {
    if (m.bot_id) return (m.bot_profile && m.bot_profile.name) || "app";
    const user = view.data.users.find((u) => u.id === m.user);
    return user ? user.real_name : m.user;
  }

  function messageView(m, channelId, opts) {
    const onAction = (el) => post("click", {
      channel: channelId, message_ts: m.ts, action_id: el.action_id, value: el.value,
    });
    const time = new Date(parseFloat(m.ts) * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    const body = h("div", { class: "message-body" });
    const text = h("div", { class: "message-text" });
    const hasVisibleBlocks = (m.blocks || []).some((b) => b.type !== "rich_text" && b.type !== "markdown");
    if (m.text && !(hasVisibleBlocks && m.bot_id)) text.innerHTML = mrkdwn(m.text, ctx);
    body.append(text, blocks(m.blocks, { ...ctx, onAction }));
    for (const att of m.attachments || []) {
      // Legacy attachments: a colour bar beside their blocks (or their text).
      const color = /^[0-9a-fA-F]{6}$/.test(att.color || "") ? `#${att.color}` : "#dddddd";
      const inner = att.blocks ? blocks(att.blocks, { ...ctx, onAction }) : h("div", { class: "message-text" });
      if (!att.blocks) inner.innerHTML = mrkdwn(att.text || att.fallback || "", ctx);
      body.append(h("div", { class: "attachment", style: `border-left-color: ${color}` }, inner));
    }
    for (const f of m.files || []) {
      if ((f.mimetype || "").startsWith("image/") && f.mimetype !== "image/svg+xml") {
        body.append(h("figure", { class: "file image" },
          h("img", { src: f.url_private, alt: f.alt_txt || f.title || f.name }),
          h("figcaption", {}, f.title || f.name)));
      } else {
        body.append(h("div", { class: "file" }, `📄 ${f.title || f.name}`));
      }
    }
    const reactions = (m.reactions || []).map((r) => h("span", { class: "reaction" }, `:${r.name}: ${r.count}`));
    const footer = [];
    if (opts.showReplies && m.reply_count) {
      footer.push(h("button", {
        type: "button", class: "link-button",
        onclick: () => { view.thread = m.ts; render(); },
      }, `${m.reply_count} ${m.reply_count === 1 ? "reply" : "replies"}`));
    } else if (opts.showReplies) {
      footer.push(h("button", {
        type: "button", class: "link-button subtle",
        onclick: () => { view.thread = m.ts; render(); },
      }, "Reply in thread"));
    }
    return h("article", { class: "message" + (m.bot_id ? " from-bot" : "") + (opts.ephemeral ? " ephemeral" : "") },
      h("div", { class: "avatar", "aria-hidden": "true" }, authorName(m).slice(0, 1).toUpperCase()),
      h("div", { class: "message-main" },
        h("div", { class: "message-meta" },
          h("strong", {}, authorName(m)), m.bot_id ? h("span", { class: "badge" }, "APP") : null,
          h("span", { class: "time" }, time), m.edited ? h("span", { class: "time" }, "(edited)") : null,
          opts.ephemeral ? h("span", { class: "only-you" }, "Only visible to you") : null),
        body,
        reactions.length ? h("div", { class: "reactions" }, reactions) : null,
        footer.length ? h("div", { class: "message-footer" }, footer) : null));
  }

  function keepScroll(container, build) {
    const atBottom = container.scrollHeight - container.scrollTop - container.clientHeight < 40;
    build();
    if (atBottom) container.scrollTop = container.scrollHeight;
  }

  function currentChannel(data) {
    if (view.channel === "dm") {
      return { id: "D" + view.user.slice(1), name: data.bot.name, topic: "Direct messages between you and the app", dm: true };
    }
    return data.channels.find((c) => c.id === view.channel) || data.channels[0];
  }

  function renderChannel(data, ch) {
    $("channel-title").textContent = ch.dm ? ch.name : `# ${ch.name}`;
    $("channel-topic").textContent = ch.topic;
    $("composer").classList.remove("hidden");
    const all = (data.messages[ch.id] || []).filter((m) => !m.thread_ts || m.thread_ts === m.ts || m.subtype === "thread_broadcast");
    const mine = data.ephemerals.filter((e) => e.channel === ch.id && !e.thread_ts);
    const items = [...all.map((m) => ({ m, eph: false })), ...mine.map((m) => ({ m, eph: true }))]
      .sort((a, b) => parseFloat(a.m.ts) - parseFloat(b.m.ts));
    const container = $("messages");
    keepScroll(container, () => container.replaceChildren(...(items.length ? items.map(({ m, eph }) =>
      messageView(m, ch.id, { showReplies: !eph, ephemeral: eph }))
      : [h("p", { class: "empty" }, "No messages yet. Say hello to @opshand.")])));
  }

  function renderThread(data) {
    const pane = $("thread");
    if (!view.thread || view.channel === "home") { pane.classList.add("hidden"); return; }
    pane.classList.remove("hidden");
    const channelId = currentChannel(data).id;
    const list = (data.messages[channelId] || []).filter((m) => m.ts === view.thread || m.thread_ts === view.thread);
    const mine = data.ephemerals.filter((e) => e.channel === channelId && e.thread_ts === view.thread);
    const items = [...list.map((m) => ({ m, eph: false })), ...mine.map((m) => ({ m, eph: true }))]
      .sort((a, b) => parseFloat(a.m.ts) - parseFloat(b.m.ts));
    const container = $("thread-messages");
    keepScroll(container, () => container.replaceChildren(...items.map(({ m, eph }) =>
      messageView(m, channelId, { showReplies: false, ephemeral: eph }))));
    // A thread opens at its newest reply, as Slack's does; later updates keep the position.
    if (shownThread !== view.thread) container.scrollTop = container.scrollHeight;
    shownThread = view.thread;
  }
  let shownThread = null;

  function renderHome(data) {
    $("channel-title").textContent = "opshand — Home";
    $("channel-topic").textContent = "The app's Home tab for the person you act as.";
    $("composer").classList.add("hidden");
    const container = $("messages");
    if (!data.home) {
      container.replaceChildren(h("p", { class: "empty" }, "Nothing published yet. Opening Home tells the app (app_home_opened)."));
      return;
    }
    const onAction = (el) => post("click", { view_id: data.home.id, action_id: el.action_id, value: el.value });
    container.replaceChildren(h("div", { class: "home" }, blocks(data.home.blocks, { ...ctx, onAction })));
  }

  let shownModal = null;
  function renderModal(data) {
    const overlay = $("modal-overlay");
    const modal = data.modal;
    if (!modal) { overlay.classList.add("hidden"); shownModal = null; return; }
    const key = `${modal.id}:${modal.hash}:${JSON.stringify(data.modal_errors)}`;
    if (key === shownModal) return;  // keep what the person is typing
    const typed = shownModal && shownModal.startsWith(modal.id + ":") ? collectInputs($("modal")) : null;
    shownModal = key;
    overlay.classList.remove("hidden");
    const onAction = (el) => post("click", { view_id: modal.id, action_id: el.action_id, value: el.value });
    const form = $("modal");
    form.replaceChildren(
      h("div", { class: "modal-title" }, modal.title.text),
      h("div", { class: "modal-body" }, blocks(modal.blocks, { ...ctx, onAction, errors: data.modal_errors })),
      h("div", { class: "modal-actions" },
        h("button", { type: "button", class: "btn", onclick: () => post("close", { view_id: modal.id }) },
          (modal.close && modal.close.text) || "Cancel"),
        modal.submit ? h("button", { type: "submit", class: "btn btn-primary" }, modal.submit.text) : null));
    if (typed) {
      for (const field of form.querySelectorAll("[name]")) {
        const [b, a] = field.name.split("/");
        if (typed[b] && typed[b][a] !== undefined && typed[b][a] !== null) field.value = typed[b][a];
      }
    }
    form.onsubmit = (ev) => {
      ev.preventDefault();
      post("submit", { view_id: modal.id, values: collectInputs(form) });
    };
  }

  // -- wiring ---------------------------------------------------------------------------

  function submitOnEnter(input, form) {
    input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit(); }
    });
  }

  $("composer").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = $("message-input");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    await post("send", { channel: currentChannel(view.data).id, text });
  });
  $("thread-composer").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = $("thread-input");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    await post("send", { channel: currentChannel(view.data).id, text, thread_ts: view.thread });
  });
  submitOnEnter($("message-input"), $("composer"));
  submitOnEnter($("thread-input"), $("thread-composer"));
  $("thread-close").addEventListener("click", () => { view.thread = null; render(); });
  $("user-select").addEventListener("change", (ev) => {
    switchUser(ev.target.value);
    poll(true);
  });
  $("guide-toggle").addEventListener("click", () => {
    guideHidden = !guideHidden;
    localStorage.setItem("localslack.guide", guideHidden ? "hidden" : "shown");
    render();
  });
  $("dm-link").addEventListener("click", () => {
    view.channel = "dm";
    view.thread = null;
    render();
  });
  $("home-link").addEventListener("click", () => {
    view.channel = "home";
    view.thread = null;
    render();
    post("home", {});
  });

  poll(true);
  setInterval(() => poll(false), 800);
})();
