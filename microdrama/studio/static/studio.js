// The studio's only script: who is reviewing (kept in this browser), and live progress of a render.
(function () {
  "use strict";
  var who = document.getElementById("reviewer");
  if (who) {
    who.value = localStorage.getItem("microdrama-reviewer") || "";
    who.addEventListener("change", function () { localStorage.setItem("microdrama-reviewer", who.value.trim()); });
    document.addEventListener("submit", function (ev) {  // every decision says who made it
      if (!who.value.trim()) return;
      var field = document.createElement("input");
      field.type = "hidden"; field.name = "reviewer"; field.value = who.value.trim();
      ev.target.appendChild(field);
    }, true);
  }
  var panel = document.getElementById("progress");
  if (!panel || !panel.dataset.job || panel.dataset.state === "done" || panel.dataset.state === "failed") return;
  var list = document.getElementById("progress-lines"), state = document.getElementById("progress-state");
  list.innerHTML = "";
  var source = new EventSource("/e/" + encodeURIComponent(panel.dataset.episode) + "/events?job=" + panel.dataset.job);
  state.textContent = "running";
  source.onmessage = function (ev) {
    var item = document.createElement("li");
    item.textContent = JSON.parse(ev.data).line;
    list.appendChild(item);
    list.scrollTop = list.scrollHeight;
  };
  source.addEventListener("end", function (ev) {
    source.close();
    var job = JSON.parse(ev.data);
    state.textContent = job.state;
    if (job.state === "done") {  // the page again, with the new takes and the new cut
      window.location.replace("/e/" + encodeURIComponent(panel.dataset.episode));
    } else {
      var item = document.createElement("li");
      item.className = "error"; item.textContent = job.error;
      list.appendChild(item);
    }
  });
})();
