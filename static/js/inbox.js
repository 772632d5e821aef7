// The inbox as a place to work: j/k move between conversations, Enter or o opens one, r goes to the reply
// box, e marks it done, u unread; Escape leaves the reply box (it does not close the conversation here).
// Keys never act while a field has the focus, and Enter in the search only searches.
(function () {
  "use strict";
  let cursor = -1;

  const rows = () => Array.from(document.querySelectorAll("[data-inbox-row]"));
  const typing = (el) => el && (el.closest("input, textarea, select, [contenteditable=true]") !== null);

  function show(index) {
    const all = rows();
    if (!all.length) return;
    cursor = Math.max(0, Math.min(index, all.length - 1));
    all.forEach(function (row, i) { row.classList.toggle("is-cursor", i === cursor); });
    const link = all[cursor].querySelector("[data-inbox-open]");
    if (link) link.focus();
  }

  function start() {
    const all = rows();
    const open = all.findIndex(function (row) { return row.classList.contains("is-open"); });
    cursor = open;
  }

  function submit(selector) {
    const form = document.querySelector(selector);
    if (form) form.requestSubmit ? form.requestSubmit() : form.submit();
  }

  let replyWanted = false;  // "r" was pressed: the reply box keeps (or takes) the focus when the conversation settles

  document.addEventListener("keydown", function (event) {
    if (!document.querySelector("[data-inbox]")) return;
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing || typing(event.target)) return;
    const key = event.key;
    if (key === "j" || key === "k") {
      event.preventDefault();
      if (cursor < 0) start();
      show(cursor + (key === "j" ? 1 : -1));
    } else if (key === "o" || (key === "Enter" && event.target.matches && event.target.matches("[data-inbox-row], body"))) {
      const row = rows()[cursor < 0 ? 0 : cursor];
      const link = row && row.querySelector("[data-inbox-open]");
      if (link) { event.preventDefault(); window.location.assign(link.href); }
    } else if (key === "r") {
      // Kept until the opened conversation has settled: its load would otherwise take the focus back.
      replyWanted = Boolean(document.querySelector(".inbox-dock"));
      const box = document.querySelector(".inbox-dock [data-compose]");
      if (replyWanted) event.preventDefault();
      if (box) box.focus();
    } else if (key === "e") {
      if (document.querySelector("[data-inbox-done]")) { event.preventDefault(); submit("[data-inbox-done]"); }
    } else if (key === "u") {
      if (document.querySelector("[data-inbox-unread]")) { event.preventDefault(); submit("[data-inbox-unread]"); }
    }
  });

  // Escape in the inbox's reply box only leaves it: the conversation stays open beside the list.
  window.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || !document.querySelector("[data-inbox]")) return;
    const inDock = event.target.closest && event.target.closest(".inbox-dock");
    if (!inDock || document.querySelector("details[data-menu][open]")) return;
    event.stopPropagation();
    event.preventDefault();
    replyWanted = false;
    if (document.activeElement) document.activeElement.blur();
    start();
    if (cursor >= 0) show(cursor);
  }, true);

  // Presence: the opened conversation's poll says "typing" for a few seconds after each keystroke in the reply.
  let typingTimer = null;
  document.addEventListener("input", function (event) {
    if (!(event.target.closest && event.target.closest(".inbox-dock [data-compose]"))) return;
    const flag = document.getElementById("presence-typing");
    if (!flag) return;
    flag.value = "1";
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { flag.value = "0"; }, 6000);
  });

  // The opened conversation loaded: the keys stay with the list (r goes to the reply box), rather than
  // the reply box taking the focus as it does on a card.
  document.addEventListener("htmx:afterSettle", function (event) {
    const target = event.detail.target;
    if (!target || target.id !== "text-dock" || !target.closest(".inbox-pane")) return;
    const box = target.querySelector("[data-compose]");
    if (replyWanted && box) { box.focus(); return; }
    if (document.activeElement && target.contains(document.activeElement)) document.activeElement.blur();
    start();
    if (cursor >= 0) show(cursor);
  });

  // The list was refreshed by its poll: keep the cursor where it was.
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail.target && event.detail.target.id === "inbox-list" && cursor >= 0) {
      const all = rows();
      if (all[cursor]) all[cursor].classList.add("is-cursor");
    }
  });
})();
