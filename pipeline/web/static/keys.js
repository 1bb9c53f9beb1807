// Keyboard shortcuts of the review workspace. Loaded from /static (the CSP allows no inline script).
// Queue: j/k move the selection, Enter opens the selected item, n opens the next item.
// Item: 1/2/3 pick a decision (focus its Save button; Enter saves), j opens the next item, k goes back to the queue.
(function () {
  "use strict";
  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }
  function submit(id) {
    var form = document.getElementById(id);
    if (form) { form.requestSubmit ? form.requestSubmit() : form.submit(); }
  }
  function queueKeys(key) {
    var rows = Array.prototype.slice.call(document.querySelectorAll("table.queue tr.row"));
    if (key === "n") { submit("open-next"); return true; }
    if (!rows.length || (key !== "j" && key !== "k")) { return false; }
    var at = rows.findIndex(function (r) { return r.classList.contains("selected"); });
    if (at >= 0) { rows[at].classList.remove("selected"); }
    at = key === "j" ? Math.min(at + 1, rows.length - 1) : Math.max(at - 1, 0);
    rows[at].classList.add("selected");
    var link = rows[at].querySelector("a.open");
    if (link) { link.focus(); }
    return true;
  }
  function itemKeys(key) {
    var form = document.querySelector('form.decision[data-key="' + key + '"]');
    if (form) {
      document.querySelectorAll("form.decision.active").forEach(function (f) { f.classList.remove("active"); });
      form.classList.add("active");
      form.querySelector('button[type="submit"]').focus();
      return true;
    }
    if (key === "j") { submit("open-next"); return true; }
    if (key === "k") { var back = document.getElementById("back-to-queue"); if (back) { back.click(); } return true; }
    return false;
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    var page = document.body.getAttribute("data-page");
    var handled = page === "queue" ? queueKeys(event.key) : page === "item" ? itemKeys(event.key) : false;
    if (handled) { event.preventDefault(); }
  });
})();
