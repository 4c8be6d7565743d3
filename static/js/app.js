// SynsetLab: keyboard navigation for lists and live job progress bars. No dependencies.
(function () {
  "use strict";

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  // "/" focuses the element marked data-hotkey="/"; "[" and "]" follow pager links.
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (typing(ev.target)) { if (ev.key === "Escape") ev.target.blur(); return; }
    var hot = document.querySelector('[data-hotkey="' + CSS.escape(ev.key) + '"]');
    if (hot) { ev.preventDefault(); if (hot.tagName === "A") hot.click(); else hot.focus(); }
  });

  // j/k move a selection through rows of [data-keynav] tables or lists; Enter opens its first link.
  var nav = document.querySelector("[data-keynav]");
  if (nav) {
    var rows = nav.tagName === "TABLE" ? nav.tBodies[0].rows : nav.children;
    var at = -1;
    var select = function (i) {
      if (!rows.length) return;
      if (at >= 0 && rows[at]) rows[at].classList.remove("selected");
      at = Math.max(0, Math.min(rows.length - 1, i));
      rows[at].classList.add("selected");
      rows[at].scrollIntoView({ block: "nearest" });
      var link = rows[at].querySelector("a"); if (link) link.focus({ preventScroll: true });
    };
    document.addEventListener("keydown", function (ev) {
      if (typing(ev.target) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      if (ev.key === "j" || ev.key === "ArrowDown") { ev.preventDefault(); select(at + 1); }
      else if (ev.key === "k" || ev.key === "ArrowUp") { ev.preventDefault(); select(at - 1); }
    });
  }

  // Live job progress: poll the jobs API until each job finishes.
  function fmtSeconds(s) {
    if (s == null) return "";
    s = Math.round(s);
    if (s < 90) return "ETA " + s + " s";
    if (s < 5400) return "ETA " + Math.round(s / 60) + " min";
    return "ETA " + (s / 3600).toFixed(1) + " h";
  }
  function render(el, job) {
    el.dataset.status = job.status;
    var pct = job.total ? Math.min(100, Math.round((100 * job.done) / job.total)) : 0;
    var fill = el.querySelector(".fill"); if (fill) fill.style.width = pct + "%";
    var bar = el.querySelector(".bar"); if (bar) bar.setAttribute("aria-valuenow", String(pct));
    var set = function (name, text) { var f = el.querySelector('[data-field="' + name + '"]'); if (f) f.textContent = text; };
    set("status", job.status);
    var st = el.querySelector('[data-field="status"]'); if (st) st.className = "badge status-" + job.status;
    set("counts", job.done.toLocaleString() + (job.total ? " / " + job.total.toLocaleString() : ""));
    set("rate", job.rate ? job.rate.toFixed(1) + "/s" : "");
    set("eta", fmtSeconds(job.eta_seconds));
    set("errors", job.errors ? job.errors.toLocaleString() + " errors" : "");
    set("message", job.message || "");
    set("error", job.error || "");
  }
  function poll(el) {
    var id = el.dataset.jobId;
    fetch("/api/v1/jobs/" + id + "/", { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (job) {
        if (!job) return;
        render(el, job);
        var finished = ["succeeded", "failed", "cancelled"].indexOf(job.status) >= 0;
        if (!finished) setTimeout(function () { poll(el); }, 1000);
        else el.dispatchEvent(new CustomEvent("job:finished", { bubbles: true, detail: job }));
      })
      .catch(function () { setTimeout(function () { poll(el); }, 3000); });
  }
  // [data-job-id]: the upload bar on the ingest page shares the look but is no job (yet).
  document.querySelectorAll(".job-progress[data-job-id]").forEach(function (el) {
    if (["succeeded", "failed", "cancelled"].indexOf(el.dataset.status) < 0) poll(el);
  });
  window.SynsetLab = { pollJob: poll };
})();
