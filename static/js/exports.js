// New-export form: a live preview of counts per class and split (POST /curate/exports/preview/).
(function () {
  var form = document.getElementById("export-form");
  if (!form) return;
  var timer = null, seq = 0;
  var $ = function (id) { return document.getElementById(id); };
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]; }); }
  function chart(classes) {
    var peak = 1; classes.forEach(function (c) { peak = Math.max(peak, c.train + c.val + c.test); });
    var rows = classes.slice(0, 100), h = rows.length * 20 + 4;
    var svg = '<svg class="split-chart" role="img" aria-label="preview: images per class and split" width="460" height="' + h + '" viewBox="0 0 460 ' + h + '">';
    rows.forEach(function (c, i) {
      var x = 0, g = '<g transform="translate(0,' + i * 20 + ')"><title>' + esc(c.wnid + " " + c.lemma + ": train " + c.train + ", val " + c.val + ", test " + c.test) + '</title><text x="0" y="14" class="label">' + esc(c.wnid) + "</text>";
      ["train", "val", "test"].forEach(function (s) {
        var w = 260 * c[s] / peak;
        if (c[s]) g += '<rect class="' + s + '" x="' + (96 + x).toFixed(1) + '" y="3" height="14" width="' + w.toFixed(1) + '"></rect>';
        x += w;
      });
      svg += g + '<text x="' + (100 + x).toFixed(1) + '" y="14" class="count">' + (c.train + c.val + c.test) + "</text></g>";
    });
    return svg + "</svg>" + (classes.length > 100 ? '<p class="muted">… ' + (classes.length - 100) + " more classes</p>" : "");
  }
  function show(data, ok) {
    $("preview-errors").innerHTML = "";
    if (!ok) {
      $("preview-state").textContent = "fix the config";
      Object.keys(data.errors || {}).forEach(function (k) {
        $("preview-errors").insertAdjacentHTML("beforeend", '<li class="error"><b>' + esc(k) + "</b>: " + esc(data.errors[k]) + "</li>");
      });
      return;
    }
    var t = data.totals;
    $("preview-state").textContent = data.classes.length + " classes";
    $("preview-totals").innerHTML = ["images", "train", "val", "test"].map(function (k) {
      return '<div class="tile"><b data-total="' + k + '">' + t[k] + "</b><span>" + k + "</span></div>";
    }).join("");
    $("preview-chart").innerHTML = '<p class="legend muted"><span class="train"></span>train<span class="val"></span>val<span class="test"></span>test</p>' + chart(data.classes);
    var r = data.report;
    $("preview-report").textContent = "Left out: " + r.duplicates.members_dropped + " duplicate-group members, " +
      r.multiclass.images + " images accepted for two classes (" + r.multiclass.policy + ")" +
      (r.classes_dropped ? ", " + r.classes_dropped + " classes under the minimum" : "") + ".";
  }
  function preview() {
    var mine = ++seq;
    $("preview-state").textContent = "counting…";
    fetch(form.dataset.previewUrl, { method: "POST", body: new FormData(form), credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (d) { return [r.ok, d]; }); })
      .then(function (res) { if (mine === seq) show(res[1], res[0]); })
      .catch(function () { if (mine === seq) $("preview-state").textContent = "preview unavailable"; });
  }
  function schedule() { clearTimeout(timer); timer = setTimeout(preview, 350); }
  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
  if (($("id_synsets").value || $("id_subtree").value).trim()) preview();
})();
