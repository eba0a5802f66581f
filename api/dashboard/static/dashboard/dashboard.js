// Progressive enhancement for every page; the pages work without it.
(function () {
  "use strict";
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  document.addEventListener("click", function (event) {
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var source = document.querySelector(copy.dataset.copy);
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText(source.textContent.trim()).then(function () {
          copy.textContent = "Copied";
        });
      }
      return;
    }
    var more = event.target.closest("a[data-more]");
    if (more) {
      event.preventDefault();
      var row = more.closest("tr");
      more.textContent = "Loading…";
      fetch(more.dataset.more, { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
        .then(function (html) { row.insertAdjacentHTML("afterend", html); row.remove(); })
        .catch(function () { more.textContent = "Could not load; try again"; });
    }
  });
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
})();
