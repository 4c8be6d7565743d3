// SynsetLab annotation grid: keyboard and touch, instant next task (prefetched), safe submits.
// Progressive enhancement: the server renders the first task as a plain form of checkboxes that
// works without JavaScript; this module takes it over and renders later tasks from the API.
(function () {
  "use strict";

  var root = document.getElementById("annotate");
  if (!root) return;
  var csrf = root.dataset.csrf;
  var form = document.getElementById("task");
  var grid = document.getElementById("grid");
  var workspace = document.getElementById("workspace");
  var empty = document.getElementById("empty");
  var notice = document.getElementById("notice");
  var countEl = document.getElementById("count");
  var dialog = document.getElementById("zoom");
  var dialogImg = document.getElementById("zoom-image");
  var template = document.getElementById("tile-template");
  var NEXT_URL = "/api/v1/annotate/next-task";

  var state = {
    task: JSON.parse(document.getElementById("task-data").textContent),
    next: undefined, // undefined: not fetched; null: none available
    nextPromise: null,
    at: 0,
    undo: [],
    shownAt: performance.now(),
    clientToken: null,
    submitting: false,
    heartbeat: null
  };

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replace(/-/g, "");
    return Date.now().toString(16) + Math.random().toString(16).slice(2) + Math.random().toString(16).slice(2);
  }

  function api(method, url, body) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: body ? JSON.stringify(body) : undefined
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, ok: response.ok, data: data };
      });
    });
  }

  function say(text) {
    notice.textContent = text || "";
    notice.hidden = !text;
  }

  // --- the grid ---------------------------------------------------------------------------------

  function boxes() { return grid.querySelectorAll("input[type=checkbox]"); }
  function tiles() { return grid.querySelectorAll(".tile"); }

  function updateCount() {
    var all = boxes(), marked = 0;
    for (var i = 0; i < all.length; i++) if (all[i].checked) marked++;
    countEl.textContent = marked + " of " + all.length + " marked";
  }

  function focusAt(i) {
    var all = boxes();
    if (!all.length) return;
    state.at = Math.max(0, Math.min(all.length - 1, i));
    all[state.at].focus({ preventScroll: false });
    all[state.at].closest(".tile").scrollIntoView({ block: "nearest" });
  }

  function columns() {
    var t = tiles();
    if (t.length < 2) return 1;
    var top = t[0].offsetTop, n = 0;
    while (n < t.length && t[n].offsetTop === top) n++;
    return Math.max(1, n);
  }

  function set(indexes, value) {
    var all = boxes(), before = [];
    indexes.forEach(function (i) { before.push([i, all[i].checked]); all[i].checked = value; });
    state.undo.push(before);
    if (state.undo.length > 200) state.undo.shift();
    updateCount();
  }

  function toggle(i) { var all = boxes(); if (all[i]) set([i], !all[i].checked); }

  function everything(value) {
    var all = boxes(), indexes = [];
    for (var i = 0; i < all.length; i++) indexes.push(i);
    set(indexes, value);
  }

  function undo() {
    var last = state.undo.pop();
    if (!last) return;
    var all = boxes();
    last.forEach(function (pair) { all[pair[0]].checked = pair[1]; });
    focusAt(last[last.length - 1][0]);
    updateCount();
  }

  function zoom() {
    if (dialog.open) { dialog.close(); return; }
    var tile = tiles()[state.at];
    if (!tile) return;
    dialogImg.src = tile.dataset.original;
    dialogImg.alt = tile.querySelector("img").alt + ", full size";
    dialog.showModal();
  }

  function adopt() {
    // Grid events, bound once: clicks and taps toggle natively; keep our cursor in step.
    grid.addEventListener("focusin", function (ev) {
      var all = boxes();
      for (var i = 0; i < all.length; i++) if (all[i] === ev.target) { state.at = i; break; }
    });
    grid.addEventListener("change", function (ev) {
      if (ev.target.type !== "checkbox") return;
      var all = boxes();
      for (var i = 0; i < all.length; i++) {
        if (all[i] === ev.target) { state.undo.push([[i, !ev.target.checked]]); break; }
      }
      updateCount();
    });
    grid.addEventListener("error", function (ev) {
      if (ev.target.tagName === "IMG") ev.target.closest(".tile").classList.add("broken");
    }, true);
    grid.addEventListener("dblclick", function (ev) {
      var tile = ev.target.closest(".tile");
      if (!tile) return;
      ev.preventDefault();
      var all = tiles();
      for (var i = 0; i < all.length; i++) if (all[i] === tile) state.at = i;
      zoom();
    });
  }

  // --- rendering a task from the API --------------------------------------------------------------

  function renderConcept(synset) {
    document.getElementById("lemma").textContent = synset.lemma;
    document.getElementById("lemma2").textContent = synset.lemma;
    document.getElementById("legend-lemma").textContent = synset.lemma;
    document.getElementById("lemmas").textContent = synset.lemmas.join(", ");
    document.getElementById("gloss").textContent = synset.gloss;
    var path = document.getElementById("path");
    path.textContent = "";
    synset.path.forEach(function (name) {
      var li = document.createElement("li"); li.textContent = name; path.appendChild(li);
    });
    var examples = document.getElementById("examples");
    examples.textContent = "";
    synset.examples.forEach(function (src) {
      var img = document.createElement("img");
      img.src = src; img.alt = "accepted example"; img.width = 64; img.height = 64;
      img.loading = "lazy"; img.decoding = "async";
      examples.appendChild(img);
    });
  }

  function render(task) {
    state.task = task;
    state.undo = [];
    state.clientToken = uuid();
    state.shownAt = performance.now();
    renderConcept(task.synset);
    form.action = "/annotate/tasks/" + task.id + "/submit";
    form.dataset.taskId = task.id;
    form.elements.client_token.value = state.clientToken;
    var fragment = document.createDocumentFragment();
    task.items.forEach(function (item, i) {
      var tile = template.content.firstElementChild.cloneNode(true);
      tile.dataset.original = item.original;
      var box = tile.querySelector("input");
      box.value = item.item;
      var img = tile.querySelector("img");
      img.src = item.thumb;
      img.width = item.width; img.height = item.height;
      img.alt = "Image " + (i + 1) + " of " + task.items.length;
      fragment.appendChild(tile);
    });
    var legend = grid.querySelector("legend");
    grid.textContent = "";
    grid.appendChild(legend);
    grid.appendChild(fragment);
    workspace.hidden = false;
    empty.hidden = true;
    updateCount();
    focusAt(0);
    startHeartbeat();
    prefetchSoon();
  }

  // The next task is fetched once the new grid has painted: its request and the decoding of its
  // 48 thumbnails otherwise compete with this grid's first frames (bench_grid saw a dropped frame
  // there), and nobody finishes a grid in under a second.
  function prefetchSoon() {
    var task = state.task;
    function go() { if (state.task === task && state.next === undefined) prefetch(); }
    if (window.requestIdleCallback) requestIdleCallback(go, { timeout: 1000 });
    else setTimeout(go, 300);
  }

  function showEmpty() {
    workspace.hidden = true;
    empty.hidden = false;
    stopHeartbeat();
  }

  function preload(task) {
    if (!task) return;
    task.items.forEach(function (item) { var img = new Image(); img.decoding = "async"; img.src = item.thumb; });
  }

  function prefetch() {
    if (state.nextPromise || !state.task) return state.nextPromise;
    state.next = undefined;
    var url = NEXT_URL + "?have=" + encodeURIComponent(state.task.id);
    state.nextPromise = api("GET", url).then(function (r) {
      state.next = r.ok ? r.data.task : null;
      if (r.status === 403) say(r.data.detail || "Annotation paused.");
      preload(state.next);
      return state.next;
    }).catch(function () { state.next = undefined; return undefined; })
      .finally(function () { state.nextPromise = null; });
    return state.nextPromise;
  }

  function showNext() {
    var ready = state.next;
    state.next = undefined;
    if (ready) { render(ready); return; }
    var pending = state.nextPromise || Promise.resolve(undefined);
    pending.then(function (task) {
      if (task) { state.next = undefined; render(task); return; }
      return api("GET", NEXT_URL).then(function (r) {
        if (r.status === 403) { say(r.data.detail || "Annotation paused."); showEmpty(); return; }
        if (r.ok && r.data.task) render(r.data.task); else showEmpty();
      });
    });
  }

  // --- heartbeat and submit -----------------------------------------------------------------------

  function stopHeartbeat() { if (state.heartbeat) clearInterval(state.heartbeat); state.heartbeat = null; }

  function startHeartbeat() {
    stopHeartbeat();
    var seconds = (state.task && state.task.heartbeat_seconds) || 60;
    state.heartbeat = setInterval(function () {
      if (!state.task || document.hidden) return;
      api("POST", "/api/v1/annotate/tasks/" + state.task.id + "/heartbeat").then(function (r) {
        if (r.status === 410) say("This task's time ran out: its images were offered to others. Your answers still count if you submit.");
      }).catch(function () {});
    }, seconds * 1000);
  }

  function updateProgress(progress) {
    if (!progress) return;
    Object.keys(progress).forEach(function (key) {
      var el = root.querySelector('[data-progress="' + key + '"]');
      if (el) el.textContent = progress[key];
    });
  }

  function showCompletion(completion) {
    if (!completion) return;
    var box = document.getElementById("completion");
    box.querySelector('[data-completion="code"]').textContent = completion.code;
    var back = box.querySelector('[data-completion="return"]');
    back.hidden = !completion.return_url;
    if (completion.return_url) box.querySelector('[data-completion="link"]').href = completion.return_url;
    box.hidden = false;
  }

  function submit() {
    if (state.submitting || !state.task) return;
    state.submitting = true;
    var task = state.task;
    var answers = [];
    boxes().forEach(function (box) {
      var broken = box.closest(".tile").classList.contains("broken");
      answers.push({ item: box.value, shows: broken ? null : box.checked });
    });
    var body = {
      client_token: state.clientToken || uuid(),
      answers: answers,
      duration_ms: Math.round(performance.now() - state.shownAt)
    };
    var attempt = 0;
    function send() {
      attempt++;
      api("POST", "/api/v1/annotate/tasks/" + task.id + "/submit", body).then(function (r) {
        if (r.ok || r.status === 409 || r.status === 404) {
          state.submitting = false;
          if (!r.ok) say(r.data.detail || "That task was already submitted.");
          else { say(""); updateProgress(r.data.progress); showCompletion(r.data.completion); }
          showNext();
          return;
        }
        if (r.status === 400) { state.submitting = false; say(r.data.detail || "The answers were refused."); return; }
        retry();
      }).catch(retry);
    }
    function retry() {
      // The same client token makes a retried submit safe: nothing is recorded twice.
      if (attempt >= 6) { state.submitting = false; say("Could not save your answers; check your connection and press Enter again."); return; }
      say("Saving… (retrying)");
      setTimeout(send, 500 * attempt * attempt);
    }
    send();
  }

  // --- keyboard -----------------------------------------------------------------------------------

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName) && target.type !== "checkbox");
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target) || workspace.hidden) return;
    if (dialog.open) {
      if (ev.key === "z" || ev.key === "Escape") { ev.preventDefault(); dialog.close(); }
      return;
    }
    var cols = columns();
    switch (ev.key) {
      case "ArrowRight": case "l": ev.preventDefault(); focusAt(state.at + 1); break;
      case "ArrowLeft": case "h": ev.preventDefault(); focusAt(state.at - 1); break;
      case "ArrowDown": case "j": ev.preventDefault(); focusAt(state.at + cols); break;
      case "ArrowUp": case "k": ev.preventDefault(); focusAt(state.at - cols); break;
      case " ": ev.preventDefault(); toggle(state.at); break;
      case "a": ev.preventDefault(); everything(true); break;
      case "n": ev.preventDefault(); everything(false); break;
      case "u": ev.preventDefault(); undo(); break;
      case "z": ev.preventDefault(); zoom(); break;
      case "Enter": ev.preventDefault(); submit(); break;
      default: return;
    }
  });

  form.addEventListener("submit", function (ev) { ev.preventDefault(); submit(); });
  document.getElementById("zoom-button").addEventListener("click", zoom);
  dialog.addEventListener("click", function (ev) { if (ev.target === dialog) dialog.close(); });
  var retryLink = document.getElementById("retry");
  if (retryLink) retryLink.addEventListener("click", function (ev) { ev.preventDefault(); state.task = null; showNext(); });

  adopt();
  if (state.task) {
    state.clientToken = form.elements.client_token.value || uuid();
    updateCount();
    focusAt(0);
    startHeartbeat();
    prefetchSoon();
  }
  window.SynsetLabAnnotate = { state: state, submit: submit };
})();
