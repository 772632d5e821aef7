// Every page: the compact menu on phones, and dismissing the "new reply" notice.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    const toggle = event.target.closest("[data-nav-toggle]");
    if (toggle) {
      const nav = document.getElementById(toggle.getAttribute("aria-controls"));
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      if (nav) nav.classList.toggle("is-open", open);
    }
    if (event.target.closest("[data-close-toast]")) {
      const toast = document.getElementById("reply-toast");
      if (toast) toast.innerHTML = "";
    }
  });
})();
