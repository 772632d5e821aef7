// Every page: the compact menu on phones, dismissing the "new reply" notice, polling only while the
// tab is seen, and no text draft left behind on a shared browser.
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

  // Polls (hx-trigger "every Ns" on [data-poll]) are skipped while the tab is hidden, and go on when
  // it is seen again. This replaces an hx-trigger filter ("[document.visibilityState === ...]"),
  // which htmx would have to eval: the Content-Security-Policy allows no eval.
  document.addEventListener("htmx:beforeRequest", function (event) {
    const elt = event.detail.elt;
    const polled = !event.detail.requestConfig || !event.detail.requestConfig.triggeringEvent;
    if (document.visibilityState !== "visible" && polled && elt && elt.hasAttribute("data-poll")) {
      event.preventDefault();
    }
  });

  // Text drafts (textpanel.js) are kept per signed-in user, and none outlives a sign-out: the
  // sign-out button clears them before its form posts, and a signed-out page (the sign-in page, after
  // an expired session or the admin's "Log out") clears whatever is left. The next person on a shared
  // browser finds nobody's draft, and neither does the same agent signing in again.
  const DRAFTS = "textdesk.draft.";
  function clearDrafts() {
    try {
      Object.keys(localStorage)
        .filter(function (key) { return key.indexOf(DRAFTS) === 0; })
        .forEach(function (key) { localStorage.removeItem(key); });
    } catch (e) { /* private mode: nothing was kept */ }
  }
  document.addEventListener("submit", function (event) {
    if (event.target.closest("[data-sign-out]")) clearDrafts();
  });
  if (document.body.hasAttribute("data-signed-out")) clearDrafts();
})();
