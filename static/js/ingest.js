// SynsetLab ingest: drag and drop of many files, folders or an archive; uploads in batches to a
// staging area (progress per byte), starts the ingest, then shows the job's live progress bar.
(function () {
  "use strict";
  var form = document.getElementById("ingest-form");
  if (!form) {
    // An ingest job page: reload once the job ends, so the summary and errors are complete.
    var live = document.querySelector(".job-progress[data-job-id]");
    if (live && ["succeeded", "failed", "cancelled"].indexOf(live.dataset.status) < 0) {
      live.addEventListener("job:finished", function () { setTimeout(function () { location.reload(); }, 300); });
    }
    return;
  }
  var BATCH_FILES = 400, BATCH_BYTES = 200 * 1024 * 1024;
  var zone = document.getElementById("dropzone");
  var filesInput = document.getElementById("id_files");
  var folderInput = document.getElementById("id_folder");
  var pickedEl = document.getElementById("picked");
  var errorEl = document.getElementById("ingest-error");
  var uploadEl = document.getElementById("upload-progress");
  var jobEl = document.getElementById("ingest-job");
  var submit = document.getElementById("ingest-submit");
  var picked = [];

  function csrf() { return form.querySelector("input[name=csrfmiddlewaretoken]").value; }
  function human(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1048576) return (bytes / 1024).toFixed(1) + " KB";
    if (bytes < 1073741824) return (bytes / 1048576).toFixed(1) + " MB";
    return (bytes / 1073741824).toFixed(2) + " GB";
  }
  function setPicked(list) {
    picked = list;
    var total = list.reduce(function (s, x) { return s + x.file.size; }, 0);
    var names = list.slice(0, 3).map(function (x) { return x.path; }).join(", ");
    pickedEl.textContent = list.length ? list.length.toLocaleString() + " file" + (list.length === 1 ? "" : "s") +
      " (" + human(total) + "): " + names + (list.length > 3 ? ", …" : "") : "";
    errorEl.textContent = "";
  }
  function fromInput(input, useRelative) {
    return Array.prototype.map.call(input.files, function (f) {
      return { file: f, path: (useRelative && f.webkitRelativePath) || f.name };
    });
  }
  filesInput.addEventListener("change", function () { setPicked(fromInput(filesInput, false)); });
  folderInput.addEventListener("change", function () { setPicked(fromInput(folderInput, true)); });
  zone.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); filesInput.click(); }
  });
  ["dragenter", "dragover"].forEach(function (type) {
    zone.addEventListener(type, function (ev) { ev.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (type) {
    zone.addEventListener(type, function () { zone.classList.remove("over"); });
  });

  // Folders dropped from the desktop: walk them, keeping each file's relative path.
  function readAll(reader) {
    return new Promise(function (resolve, reject) {
      var out = [];
      (function more() {
        reader.readEntries(function (batch) {
          if (!batch.length) { resolve(out); return; }
          out = out.concat(batch); more();
        }, reject);
      })();
    });
  }
  function walk(entry, prefix) {
    if (entry.isFile) {
      return new Promise(function (resolve, reject) {
        entry.file(function (f) { resolve([{ file: f, path: prefix + f.name }]); }, reject);
      });
    }
    if (entry.isDirectory) {
      return readAll(entry.createReader()).then(function (children) {
        return Promise.all(children.map(function (c) { return walk(c, prefix + entry.name + "/"); }));
      }).then(function (lists) { return [].concat.apply([], lists); });
    }
    return Promise.resolve([]);
  }
  zone.addEventListener("drop", function (ev) {
    ev.preventDefault();
    var items = ev.dataTransfer.items;
    var entries = items ? Array.prototype.map.call(items, function (i) {
      return i.webkitGetAsEntry ? i.webkitGetAsEntry() : null;
    }).filter(Boolean) : [];
    if (entries.length) {
      pickedEl.textContent = "reading folders…";
      Promise.all(entries.map(function (e) { return walk(e, ""); }))
        .then(function (lists) { setPicked([].concat.apply([], lists)); })
        .catch(function (e) { errorEl.textContent = "Could not read what was dropped: " + e; });
    } else {
      setPicked(Array.prototype.map.call(ev.dataTransfer.files, function (f) { return { file: f, path: f.name }; }));
    }
  });

  function batches(list) {
    var out = [], cur = [], bytes = 0;
    list.forEach(function (x) {
      if (cur.length && (cur.length >= BATCH_FILES || bytes + x.file.size > BATCH_BYTES)) { out.push(cur); cur = []; bytes = 0; }
      cur.push(x); bytes += x.file.size;
    });
    if (cur.length) out.push(cur);
    return out;
  }
  function showUpload(sent, total) {
    uploadEl.hidden = false;
    var pct = total ? Math.min(100, Math.round((100 * sent) / total)) : 100;
    uploadEl.querySelector(".fill").style.width = pct + "%";
    uploadEl.querySelector(".bar").setAttribute("aria-valuenow", String(pct));
    uploadEl.querySelector('[data-field="counts"]').textContent = human(sent) + " / " + human(total);
  }
  function send(batch, token, sentBefore, total) {
    return new Promise(function (resolve, reject) {
      var fd = new FormData();
      batch.forEach(function (x) { fd.append("files", x.file, x.file.name); fd.append("paths", x.path); });
      var xhr = new XMLHttpRequest();
      xhr.open("POST", "/curate/ingest/upload/" + (token ? "?staging=" + encodeURIComponent(token) : ""));
      xhr.setRequestHeader("X-CSRFToken", csrf());
      xhr.setRequestHeader("X-Requested-With", "fetch");
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = function (e) { showUpload(sentBefore + e.loaded, total); };
      xhr.onload = function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
        if (xhr.status >= 200 && xhr.status < 300 && body) resolve(body);
        else reject(new Error((body && body.error) || ("upload failed (HTTP " + xhr.status + ")")));
      };
      xhr.onerror = function () { reject(new Error("the upload was interrupted")); };
      xhr.send(fd);
    });
  }
  function start(token) {
    var fd = new FormData();
    fd.append("staging", token);
    fd.append("synset", form.elements.synset.value);
    fd.append("source_name", form.elements.source_name.value);
    return fetch("/curate/ingest/start/", {
      method: "POST", body: fd, credentials: "same-origin",
      headers: { "X-CSRFToken": csrf(), "X-Requested-With": "fetch", Accept: "application/json" },
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (!r.ok) throw new Error(body.error || ("could not start the ingest (HTTP " + r.status + ")"));
        return body;
      });
    });
  }
  function showJob(job) {
    jobEl.innerHTML = "";
    var el = document.createElement("div");
    el.className = "job-progress"; el.dataset.jobId = job.job; el.dataset.status = job.status;
    el.setAttribute("aria-live", "polite");
    el.innerHTML = '<div class="job-head"><a></a><span class="badge" data-field="status"></span></div>' +
      '<div class="bar" role="progressbar" aria-label="ingest" aria-valuemin="0" aria-valuemax="100" aria-valuenow="0"><div class="fill" style="width:0"></div></div>' +
      '<div class="job-figures"><span data-field="counts"></span><span data-field="rate"></span><span data-field="eta"></span><span data-field="errors" class="error"></span></div>' +
      '<div class="job-message" data-field="message"></div><div class="job-error error" data-field="error"></div>';
    var link = el.querySelector("a"); link.href = job.url; link.textContent = "Ingest #" + job.job + ": open the report";
    jobEl.appendChild(el);
    el.addEventListener("job:finished", function () { link.focus(); });
    if (window.SynsetLab) window.SynsetLab.pollJob(el);
  }

  form.addEventListener("submit", function (ev) {
    if (!picked.length) {
      ev.preventDefault();
      errorEl.textContent = "Choose or drop some files first.";
      zone.focus();
      return;
    }
    ev.preventDefault();
    submit.disabled = true;
    errorEl.textContent = "";
    var groups = batches(picked);
    var total = picked.reduce(function (s, x) { return s + x.file.size; }, 0);
    var token = null, sent = 0;
    var chain = Promise.resolve();
    groups.forEach(function (group) {
      chain = chain.then(function () {
        return send(group, token, sent, total).then(function (body) {
          token = body.staging;
          sent += group.reduce(function (s, x) { return s + x.file.size; }, 0);
          showUpload(sent, total);
        });
      });
    });
    chain.then(function () { return start(token); })
      .then(function (job) { showJob(job); setPicked([]); filesInput.value = ""; folderInput.value = ""; })
      .catch(function (e) { errorEl.textContent = e.message; })
      .then(function () { submit.disabled = false; });
  });
})();
