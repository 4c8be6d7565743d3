// Training-run page: re-fetch the live fragment (status, progress, SVG curves) while the run is
// queued or running; reload the whole page once it finishes to show the final results.
(function () {
  "use strict";
  var box = document.getElementById("run-live");
  if (!box) return;
  var ACTIVE = ["queued", "running"];
  if (ACTIVE.indexOf(box.dataset.status) < 0) return;
  function tick() {
    fetch(box.dataset.url, { credentials: "same-origin" })
      .then(function (r) {
        var status = r.headers.get("X-Run-Status");
        return r.text().then(function (html) { return { status: status, html: html }; });
      })
      .then(function (res) {
        box.innerHTML = res.html;
        if (ACTIVE.indexOf(res.status) < 0) { window.location.reload(); return; }
        setTimeout(tick, 2000);
      })
      .catch(function () { setTimeout(tick, 5000); });
  }
  setTimeout(tick, 2000);
})();
