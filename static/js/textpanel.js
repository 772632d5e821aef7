// The little the card needs beyond htmx: focus into the text panel when it opens, Escape to
// close menus and the panel, drag (or arrow keys) on the panel's edge to resize it, and the
// disabled Text icon pointing at "record text permission", the note of a refused opt-out or permission.
(function () {
  "use strict";

  const MIN_W = 300, MIN_H = 280, STEP = 24, SIZE_KEY = "textdesk.panelSize";
  let opener = null; // the control that opened the panel, to give focus back on close

  const dock = () => document.getElementById("text-dock");
  const panel = () => document.getElementById("text-panel");

  function focusCompose() {
    const box = panel() && panel().querySelector("[data-compose]");
    if (box) {
      box.focus();
      box.setSelectionRange(box.value.length, box.value.length);
    }
  }

  function closePanel() {
    const d = dock();
    if (!d || !panel()) return;
    d.innerHTML = "";
    const back = opener && document.body.contains(opener) ? opener : document.querySelector("[data-text-button]");
    if (back) back.focus();
  }

  function closeMenus(except) {
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      if (!except || !menu.contains(except)) menu.open = false;
    });
  }

  // --- opening: remember who opened it, then focus the message box once htmx has swapped it in.
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-text-button]");
    if (button) {
      opener = button.closest("details[data-menu]") ? button.closest("details[data-menu]").querySelector("summary") : button;
      closeMenus();
    }
    const disabled = event.target.closest("[data-text-disabled]");
    if (disabled) {
      // No permission: open the "record text permission" form for that number, or show the notice.
      const form = document.getElementById(disabled.dataset.permissionTarget);
      if (form) {
        form.open = true;
        const note = form.querySelector("textarea");
        if (note) note.focus();
      } else {
        const notice = document.getElementById("consent-notice");
        if (notice) notice.scrollIntoView({ block: "center" });
      }
    }
    if (event.target.closest("[data-close-panel]")) closePanel();
    if (event.target.closest("[data-close-menu]")) closeMenus();
    else closeMenus(event.target); // a click elsewhere closes any other open menu
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    const target = event.detail.target;
    if (!target) return;
    if (target.id === "text-dock") {
      restoreSize();
      focusCompose();
      const thread = panel() && panel().querySelector(".panel-thread .thread");
      if (thread) thread.scrollTop = thread.scrollHeight;
    } else if (target.id && target.id.indexOf("compose-") === 0) {
      focusCompose();
    } else if (target.id === "text-panel" || target.closest && target.closest("#text-dock")) {
      restoreSize();
      // A refusal with a way forward ("Schedule for …") gets focus; otherwise back to the message.
      const action = panel() && panel().querySelector("[role=alert] button");
      if (action) action.focus();
      else focusCompose();
    } else if (target.id && /^(optout|consent)-\d+$/.test(target.id)) {
      // A refused "record opt-out"/"record permission": put the cursor back in the note.
      const form = document.getElementById(target.id);
      const note = form && form.querySelector("[aria-invalid=true]");
      if (note) note.focus();
    } else if (target.id === "text-controls") {
      const field = target.querySelector("[aria-invalid=true]") || target.querySelector(".ok-line");
      if (field) {
        if (field.tagName !== "INPUT") field.setAttribute("tabindex", "-1");
        field.focus();
      }
    }
  });

  // --- the confirmation at the top of the card (support page step F) goes after a while, or when
  // clicked: it floats over the ribbon, which must not stay hidden. The live region keeps no stale text.
  const CONFIRMATION_SECONDS = 8;
  function armConfirmations() {
    document.querySelectorAll("#card-confirmation .confirm:not([data-armed])").forEach(function (pill) {
      pill.setAttribute("data-armed", "");
      pill.title = "Dismiss";
      const leave = function () {
        pill.classList.add("leaving");
        setTimeout(function () { pill.remove(); }, 400);
      };
      const timer = setTimeout(leave, CONFIRMATION_SECONDS * 1000);
      pill.addEventListener("click", function () { clearTimeout(timer); leave(); });
    });
  }
  document.addEventListener("htmx:load", armConfirmations);

  // --- the conversation shows its latest text: scroll the thread to the bottom whenever it is (re)loaded.
  document.addEventListener("htmx:load", function (event) {
    const thread = event.detail.elt.id === "conversation" && event.detail.elt.querySelector(".thread");
    if (thread) thread.scrollTop = thread.scrollHeight;
  });

  // --- Escape: the innermost open menu first, then the panel.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    const open = Array.from(document.querySelectorAll("details[data-menu][open], details.add-new[open]"));
    const inner = open.filter(function (d) { return d.contains(document.activeElement); }).pop() || open.pop();
    if (inner) {
      inner.open = false;
      const summary = inner.querySelector("summary");
      if (summary) summary.focus();
      event.preventDefault();
      return;
    }
    if (panel()) {
      closePanel();
      event.preventDefault();
    }
  });

  // --- resizing from the panel's top-left edge (the panel is docked bottom-right).
  function setSize(width, height) {
    const p = panel();
    if (!p) return;
    const w = Math.max(MIN_W, Math.min(width, window.innerWidth - 16));
    const h = Math.max(MIN_H, Math.min(height, window.innerHeight - 16));
    p.style.width = w + "px";
    p.style.height = h + "px";
    const grip = p.querySelector("[data-resize]");
    if (grip) grip.setAttribute("aria-valuenow", String(w));
    try { localStorage.setItem(SIZE_KEY, JSON.stringify([w, h])); } catch (e) { /* private mode */ }
  }

  function restoreSize() {
    if (!panel() || window.innerWidth < 600) return; // phones: the panel is a full-width sheet
    try {
      const saved = JSON.parse(localStorage.getItem(SIZE_KEY) || "null");
      if (saved) setSize(saved[0], saved[1]);
    } catch (e) { /* ignore a bad value */ }
  }

  document.addEventListener("pointerdown", function (event) {
    const grip = event.target.closest("[data-resize]");
    if (!grip || !panel()) return;
    event.preventDefault();
    const p = panel();
    const start = { x: event.clientX, y: event.clientY, w: p.offsetWidth, h: p.offsetHeight };
    grip.setPointerCapture(event.pointerId);
    p.classList.add("is-resizing");
    function move(e) { setSize(start.w + (start.x - e.clientX), start.h + (start.y - e.clientY)); }
    function up() {
      grip.removeEventListener("pointermove", move);
      grip.removeEventListener("pointerup", up);
      p.classList.remove("is-resizing");
    }
    grip.addEventListener("pointermove", move);
    grip.addEventListener("pointerup", up);
  });

  document.addEventListener("keydown", function (event) {
    const grip = event.target.closest && event.target.closest("[data-resize]");
    if (!grip || !panel()) return;
    const p = panel();
    const delta = { ArrowLeft: [STEP, 0], ArrowRight: [-STEP, 0], ArrowUp: [0, STEP], ArrowDown: [0, -STEP] }[event.key];
    if (!delta) return;
    event.preventDefault();
    setSize(p.offsetWidth + delta[0], p.offsetHeight + delta[1]);
  });
})();

// --- drafts, Ctrl/Cmd+Enter, template search, errors that clear with their cause.
(function () {
  "use strict";
  const PREFIX = "textdesk.draft.";
  const panel = () => document.getElementById("text-panel");
  const key = () => panel() && PREFIX + panel().dataset.draftKey;

  function save(box) {
    const k = key();
    if (!k) return;
    try {
      if (box.value.trim()) localStorage.setItem(k, box.value);
      else localStorage.removeItem(k);
    } catch (e) { /* private mode */ }
  }

  // A draft typed before closing, navigating away or reloading comes back for the same person and
  // number, to the same signed-in user only (the key carries their id; app.js clears every draft at sign-out).
  function restore() {
    const p = panel();
    const box = p && p.querySelector("[data-compose]");
    if (!box || box.value.trim() || p.querySelector("[role=alert]")) return;
    let saved = null;
    try { saved = localStorage.getItem(key()); } catch (e) { /* private mode */ }
    if (saved) {
      box.value = saved;
      box.dispatchEvent(new Event("input", { bubbles: true })); // the counter follows
      p.querySelector(".compose").insertAdjacentHTML("afterbegin", '<p class="draft-note muted" role="status">Your unsent draft is back.</p>');
    }
  }

  document.addEventListener("input", function (event) {
    const box = event.target.closest && event.target.closest("[data-compose]");
    if (box) {
      save(box);
      // A refusal about the text itself goes once the text changes.
      document.querySelectorAll('#text-panel .refusal[data-refusal="too_long"], #text-panel .refusal[data-refusal="empty_body"]').forEach(function (el) { el.remove(); });
      box.removeAttribute("aria-invalid");
    }
    const search = event.target.closest && event.target.closest("[data-template-search]");
    if (search) {
      const q = search.value.trim().toLowerCase();
      const menuPanel = search.closest(".menu-panel");
      menuPanel.querySelectorAll("[data-template-item]").forEach(function (li) {
        li.hidden = q && li.textContent.toLowerCase().indexOf(q) === -1;
      });
      // A category with no match left loses its title too.
      menuPanel.querySelectorAll(".template-list").forEach(function (list) {
        const title = list.previousElementSibling;
        if (title && title.matches(".menu-title")) title.hidden = !list.querySelector("[data-template-item]:not([hidden])");
      });
      if (window.textdeskPlaceMenus) window.textdeskPlaceMenus();
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
    const box = event.target.closest && event.target.closest("#text-panel [data-compose]");
    if (!box) return;
    event.preventDefault();
    const send = document.getElementById("send-btn");
    if (send && !send.disabled) send.click();
  });

  document.body.addEventListener("textdesk:sent", function () {
    try { localStorage.removeItem(key()); } catch (e) { /* private mode */ }
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    const t = event.detail.target;
    if (t && (t.id === "text-dock" || t.id === "text-panel")) restore();
  });

  // The panel's thread shows its newest text: when the thread is (re)loaded, and when the whole
  // panel is swapped (the answer to Send, with the text just sent at the end of the thread).
  document.addEventListener("htmx:load", function (event) {
    const elt = event.detail.elt;
    const conversation = elt.id === "panel-conversation" ? elt : elt.querySelector && elt.querySelector("#panel-conversation");
    const thread = conversation && conversation.querySelector(".thread");
    if (thread) thread.scrollTop = thread.scrollHeight;
  });
})();

// --- menus (the phone menu, the template menu, any details[data-menu]) open above the text panel and inside
// the screen: placed against the window (fixed) below their button, or above it when there is more room
// there, never past an edge; a long menu scrolls inside itself. Enter in a menu's field never sends.
(function () {
  "use strict";
  const EDGE = 8, GAP = 6;

  function placeMenu(menu) {
    const list = menu.querySelector(":scope > .menu-panel");
    const button = menu.querySelector(":scope > summary");
    if (!list || !button || !menu.open) return;
    list.classList.remove("is-placed");
    ["top", "bottom", "left", "width", "maxHeight"].forEach(function (p) { list.style[p] = ""; });
    const vw = document.documentElement.clientWidth, vh = window.innerHeight;
    const natural = list.getBoundingClientRect(); // where the stylesheet alone puts it
    const anchor = button.getBoundingClientRect();
    const width = Math.min(natural.width, vw - 2 * EDGE);
    const height = list.scrollHeight;
    const below = vh - anchor.bottom - GAP - EDGE, above = anchor.top - GAP - EDGE;
    const down = below >= Math.min(height, 240) || below >= above;
    list.classList.add("is-placed");
    list.style.width = width + "px";
    list.style.left = Math.max(EDGE, Math.min(natural.left, vw - EDGE - width)) + "px";
    // No taller than most of the window: a long list scrolls inside the menu rather than over everything.
    list.style.maxHeight = Math.max(120, Math.min(down ? below : above, Math.round(vh * 0.6))) + "px";
    if (down) list.style.top = Math.min(anchor.bottom + GAP, vh - EDGE - 120) + "px";
    else list.style.bottom = Math.min(vh - anchor.top + GAP, vh - EDGE - 120) + "px";
  }

  function placeOpenMenus() {
    document.querySelectorAll("details[data-menu][open]").forEach(placeMenu);
  }
  window.textdeskPlaceMenus = placeOpenMenus;

  // "toggle" does not bubble: listen while it goes down. A details inside a menu (Add New) re-places its menu.
  document.addEventListener("toggle", function (event) {
    const details = event.target;
    if (!(details instanceof HTMLDetailsElement)) return;
    const menu = details.matches("[data-menu]") ? details : details.closest("details[data-menu]");
    if (!menu) return;
    if (menu.open) placeMenu(menu);
    else { const list = menu.querySelector(":scope > .menu-panel"); if (list) list.classList.remove("is-placed"); }
  }, true);
  window.addEventListener("resize", placeOpenMenus);
  document.addEventListener("scroll", function (event) {
    // The page (or the panel) scrolled under an open menu: follow its button; a menu's own scrolling changes nothing.
    if (event.target.closest && event.target.closest(".menu-panel")) return;
    placeOpenMenus();
  }, true);
  document.addEventListener("htmx:afterSettle", placeOpenMenus);

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || event.ctrlKey || event.metaKey || event.isComposing) return;
    const field = event.target;
    if (!(field instanceof HTMLInputElement)) return;
    const search = field.closest("[data-template-search]") ? field : null;
    if (search) {
      // Enter in the template search goes to the first match (Enter again, or a click, picks it).
      event.preventDefault();
      const first = Array.from(search.closest(".menu-panel").querySelectorAll("[data-template-item]:not([hidden]) .template-choice:not([disabled])"))[0];
      if (first) first.focus();
      return;
    }
    // Any other one-line field of the compose form (a note, a future filter): Enter is not Send.
    if (field.form && field.form.id === "panel-form") event.preventDefault();
  });
})();

// --- a template goes in at the cursor, never over what the agent typed, and Undo puts the text back.
(function () {
  "use strict";

  function note(compose, text, undo) {
    const old = compose.querySelector(".template-note, .template-error");
    if (old) old.remove();
    const line = document.createElement("p");
    line.className = "template-note";
    line.setAttribute("role", "status");
    line.textContent = text;
    if (undo) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Undo";
      button.setAttribute("data-template-undo", "");
      button.addEventListener("click", function () { undo(); line.remove(); });
      line.appendChild(button);
    }
    compose.insertBefore(line, compose.querySelector(".counter"));
  }

  function insert(box, text) {
    const start = box.selectionStart, end = box.selectionEnd;
    const before = box.value.slice(0, start), after = box.value.slice(end);
    let piece = text;
    if (before && !/\s$/.test(before)) piece = " " + piece;
    if (after && !/^\s/.test(after)) piece = piece + " ";
    box.focus();
    box.setSelectionRange(start, end);
    // execCommand keeps the browser's own undo (Ctrl/⌘+Z) working; setRangeText where it is missing.
    let done = false;
    try { done = document.execCommand("insertText", false, piece); } catch (e) { done = false; }
    if (!done || box.value.slice(0, start) + piece + after !== box.value) {
      box.value = before + piece + after;
      box.setSelectionRange(start + piece.length, start + piece.length);
      box.dispatchEvent(new Event("input", { bubbles: true }));
    }
  }

  document.addEventListener("click", function (event) {
    const choice = event.target.closest && event.target.closest(".template-choice[data-template-url]");
    if (!choice || choice.disabled) return;
    const panel = document.getElementById("text-panel");
    const box = panel && panel.querySelector("[data-compose]");
    if (!box) return;
    const compose = box.closest(".compose");
    const templateField = compose.querySelector("input[name=template]");
    const saved = { value: box.value, start: box.selectionStart, end: box.selectionEnd, template: templateField ? templateField.value : "" };
    fetch(choice.dataset.templateUrl, { headers: { "HX-Request": "true", "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        if (data.error) {
          note(compose, data.error, null);
          compose.querySelector(".template-note").className = "template-error field-error";
          compose.querySelector(".template-error").setAttribute("role", "alert");
          return;
        }
        const typed = box.value.trim() !== "";
        if (!typed) { box.focus(); box.select(); }
        insert(box, data.text);
        if (templateField) templateField.value = String(data.template);
        if (data.picture) box.dispatchEvent(new CustomEvent("textdesk:template-picture", { bubbles: true, detail: data.picture }));
        note(compose, typed ? "Inserted “" + data.name + "” at the cursor." : "Filled in “" + data.name + "”.", function () {
          box.value = saved.value;
          if (templateField) templateField.value = saved.template;
          box.focus();
          box.setSelectionRange(saved.start, saved.end);
          box.dispatchEvent(new Event("input", { bubbles: true }));
        });
      })
      .catch(function () { note(compose, "The template could not be loaded. Try again.", null); });
  });
})();

// --- the "Text sent" confirmation never covers the panel's head on a phone (the panel is a full-screen sheet
// there): it floats just below the head and the texting-hours line. Elsewhere it is in the card's flow.
// A refusal shows where it can be read, at the top of the panel's scrolling part.
(function () {
  "use strict";
  function placeConfirmation() {
    const slot = document.getElementById("card-confirmation");
    if (!slot) return;
    const panel = document.getElementById("text-panel");
    const sheet = panel && panel.getBoundingClientRect().width >= document.documentElement.clientWidth - 1;
    slot.classList.toggle("is-over-panel", Boolean(sheet));
    if (sheet) {
      const above = panel.querySelector("#panel-state") || panel.querySelector(".panel-head");
      slot.style.top = above.getBoundingClientRect().bottom + 6 + "px";
    } else {
      slot.style.top = "";
    }
  }
  document.addEventListener("htmx:afterSettle", placeConfirmation);
  document.addEventListener("htmx:load", placeConfirmation);
  window.addEventListener("resize", placeConfirmation);

  document.addEventListener("htmx:afterSettle", function (event) {
    const target = event.detail.target;
    if (!target || !(target.id === "text-panel" || target.id === "text-dock")) return;
    const panel = document.getElementById("text-panel");
    const refusal = panel && panel.querySelector(".refusal");
    const scroller = panel && panel.querySelector("[data-panel-scroll]");
    if (refusal && scroller) scroller.scrollTop = Math.max(0, refusal.offsetTop - scroller.offsetTop - 4);
  });
})();

// --- pictures (MMS): the attach button, drag and drop onto the message, and paste. Each picture is
// uploaded at once (/media/upload/: checked by its content, stored without EXIF); its thumbnail
// carries a hidden `media` id the send posts, and the counter turns to "MMS · N pictures".
(function () {
  "use strict";
  function csrf() {
    const field = document.querySelector("#text-panel input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }
  function zoneOf(el) { return el && el.closest && el.closest("[data-attach-zone]"); }
  function recount(zone) {
    const attach = zone.querySelector("[data-attach]");
    const count = zone.querySelectorAll("[data-attached]").length;
    const max = Number(attach.dataset.max || 5);
    attach.classList.toggle("is-full", count >= max);
    const box = zone.querySelector("[data-compose]");
    if (box) box.dispatchEvent(new CustomEvent("textdesk:pictures", { bubbles: true }));
  }
  function showError(zone, text) {
    const line = zone.querySelector("[data-attach-error]");
    line.textContent = text || "";
    line.hidden = !text;
  }
  function addThumb(zone, picture) {
    const template = zone.querySelector("[data-attach-template]");
    const item = template.content.firstElementChild.cloneNode(true);
    item.querySelector("img").src = picture.url;
    item.querySelector("input[name=media]").value = String(picture.id);
    const n = zone.querySelectorAll("[data-attached]").length + 1;
    item.querySelector("img").alt = "Attached picture " + n;
    item.querySelector("[data-attach-remove]").setAttribute("aria-label", "Remove picture " + n);
    zone.querySelector("[data-attach-list]").appendChild(item);
    // The panel scrolls inside itself: bring the new thumbnail into its view once it has a size.
    item.querySelector("img").addEventListener("load", function () { item.scrollIntoView({ block: "nearest" }); }, { once: true });
  }
  function upload(zone, files) {
    const attach = zone.querySelector("[data-attach]");
    const max = Number(attach.dataset.max || 5);
    const room = max - zone.querySelectorAll("[data-attached]").length;
    const pictures = Array.from(files || []);
    if (!pictures.length) return;
    showError(zone, pictures.length > room ? "A text can carry at most " + max + " pictures." : "");
    pictures.slice(0, Math.max(0, room)).forEach(function (file) {
      const body = new FormData();
      body.append("file", file, file.name || "pasted picture");
      attach.classList.add("is-busy");
      fetch(attach.dataset.uploadUrl, { method: "POST", body: body, credentials: "same-origin",
        headers: { "X-CSRFToken": csrf(), "Accept": "application/json" } })
        .then(function (response) { return response.json(); })
        .then(function (data) {
          if (data.error) { showError(zone, data.error); return; }
          if (zone.querySelectorAll("[data-attached]").length >= max) return;
          addThumb(zone, data);
          recount(zone);
        })
        .catch(function () { showError(zone, "The picture could not be uploaded. Try again."); })
        .finally(function () { attach.classList.remove("is-busy"); });
    });
  }
  document.addEventListener("change", function (event) {
    const input = event.target.closest && event.target.closest("[data-attach-input]");
    if (!input) return;
    upload(zoneOf(input), input.files);
    input.value = "";
  });
  document.addEventListener("click", function (event) {
    const remove = event.target.closest && event.target.closest("[data-attach-remove]");
    if (!remove) return;
    const zone = zoneOf(remove);
    remove.closest("[data-attached]").remove();
    showError(zone, "");
    recount(zone);
    const box = zone.querySelector("[data-compose]");
    if (box) box.focus();
  });
  document.addEventListener("paste", function (event) {
    const zone = zoneOf(event.target);
    const files = event.clipboardData && Array.from(event.clipboardData.files || []).filter(function (f) { return f.type.indexOf("image/") === 0; });
    if (!zone || !files || !files.length) return;
    event.preventDefault();
    upload(zone, files);
  });
  ["dragenter", "dragover"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      const zone = zoneOf(event.target);
      if (!zone || !event.dataTransfer || Array.from(event.dataTransfer.types || []).indexOf("Files") < 0) return;
      event.preventDefault();
      zone.classList.add("is-dropping");
    });
  });
  ["dragleave", "drop"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      const zone = zoneOf(event.target);
      if (!zone) return;
      zone.classList.remove("is-dropping");
      if (name === "drop" && event.dataTransfer && event.dataTransfer.files.length) {
        event.preventDefault();
        upload(zone, event.dataTransfer.files);
      }
    });
  });
  // A template with a picture brings it along (textpanel.js's template pick fires this).
  document.addEventListener("textdesk:template-picture", function (event) {
    const zone = zoneOf(event.target);
    const picture = event.detail;
    if (!zone || !picture) return;
    if (zone.querySelector('[data-attached] input[name=media][value="' + picture.id + '"]')) return;
    if (zone.querySelectorAll("[data-attached]").length >= Number(zone.querySelector("[data-attach]").dataset.max || 5)) return;
    addThumb(zone, picture);
    recount(zone);
  });
})();
