// Admin → Message templates: the preview follows the body as it is typed (no save needed).
// The server renders it (template_preview_live: the same service and fragment as the saved preview),
// so merge fields, the link and the length figures are the ones a text will have.
(function () {
  "use strict";

  function start() {
    const box = document.querySelector("[data-template-preview]");
    const body = document.getElementById("id_body");
    const token = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (!box || !body || !token) return;
    let timer = null;
    let asked = 0;

    function refresh() {
      const mine = ++asked;
      const data = new URLSearchParams({ body: body.value });
      if (box.dataset.template) data.set("template", box.dataset.template);
      fetch(box.dataset.url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": token.value, "X-Requested-With": "fetch" },
        body: data,
      })
        .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
        .then(function (html) { if (mine === asked) box.innerHTML = html; })  // the answer to the latest body only
        .catch(function () { /* the saved preview stays; saving shows the form's own errors */ });
    }

    body.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, 200);
    });
    if (body.value.trim() && !box.dataset.template) refresh();  // an add form shown again with its errors
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
