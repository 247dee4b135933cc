// ketaplan: progressive enhancement only. Every page works without this file; with it, the
// session console's timer runs between events, the console answers single keys, the patient
// search filters as you type, and the intake form checks the fields as they are typed. No
// framework, no network beyond this server.
"use strict";

function pad(n) { return String(n).padStart(2, "0"); }

function startConsoleTimer() {
  const console_ = document.getElementById("console");
  if (!console_ || console_.dataset.state !== "infusing" || !console_.dataset.lastAt) return;
  const lastAt = Date.parse(console_.dataset.lastAt);
  const baseMin = parseFloat(console_.dataset.infusingMin || "0");
  const baseMg = parseFloat(console_.dataset.deliveredMg || "0");
  const rateMgPerH = parseFloat(console_.dataset.rateMgPerH || "0");
  const timer = document.getElementById("timer");
  const delivered = document.getElementById("delivered");
  function tick() {
    // The server's figures are as of the last charted event; extrapolate at the running rate.
    const elapsedS = Math.max(0, (Date.now() - lastAt) / 1000);
    const totalS = Math.floor(baseMin * 60 + elapsedS);
    timer.textContent = Math.floor(totalS / 60) + ":" + pad(totalS % 60);
    delivered.textContent = (baseMg + rateMgPerH * elapsedS / 3600).toFixed(1);
  }
  tick();
  window.setInterval(tick, 1000);
}

function consoleKeys() {
  if (!document.getElementById("console")) return;
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target instanceof HTMLElement && target.closest("input, select, textarea")) return;
    const button = document.querySelector(`[data-key="${event.key.toLowerCase()}"]`);
    if (!button) return;
    event.preventDefault();
    if (button instanceof HTMLElement && button.tagName === "SUMMARY") {
      // Stop opens its panel (completed or stopped early?); it never charts on one key.
      const panel = button.parentElement;
      button.click();
      const first = panel && panel.querySelector("input:not([type=hidden])");
      if (first && panel.open) first.focus();
      return;
    }
    if (!(button instanceof HTMLButtonElement)) return;
    const empty = button.form && Array.from(button.form.querySelectorAll("input:not([type=hidden]), select"))
      .find((field) => !field.value);
    if (empty) { empty.focus(); return; }  // a number to type (or read off the bag) first
    button.click();
  });
}

function liveSearch() {
  const input = document.querySelector("[data-live-search]");
  const list = document.getElementById("patient-list");
  if (!input || !list) return;
  let pending = 0;
  input.addEventListener("input", () => {
    window.clearTimeout(pending);
    pending = window.setTimeout(async () => {
      const url = "/patients?q=" + encodeURIComponent(input.value);
      const answer = await fetch(url, { credentials: "same-origin" });
      if (!answer.ok) return;
      const page = new DOMParser().parseFromString(await answer.text(), "text/html");
      const fresh = page.getElementById("patient-list");
      if (fresh) list.replaceWith(fresh);
      window.history.replaceState(null, "", url);
    }, 250);
  });
}

function clearErrorsOnEdit() {
  // A field marked wrong stops looking wrong once it is edited; the server still decides.
  document.querySelectorAll(".field.has-error").forEach((field) => {
    field.addEventListener("input", () => field.classList.add("edited"), { once: true });
  });
}

// Fields the intake's live check never sends: identity and medications are not needed to check
// the profile, so they stay on the page until the form is submitted.
const NOT_LIVE_CHECKED = new Set([
  "full_name", "date_of_birth", "medications", "allergies", "csrf_token", "expected_version",
  "address_line1", "address_line2", "city", "region", "postal_code", "country", "phone", "email",
  "escort_name", "escort_phone",
]);

function showFieldError(form, name, message) {
  const error = form.querySelector(`[data-error-for="${name}"]`);
  if (!error) return;
  const field = error.closest(".field");
  const input = form.querySelector(`[name="${name}"]`);
  error.textContent = message;
  if (field) field.classList.toggle("has-error", Boolean(message));
  if (field) field.classList.remove("edited");
  if (input) {
    if (message) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", error.id);
    } else {
      input.removeAttribute("aria-invalid");
    }
  }
}

function liveIntakeChecks() {
  // The server checks the profile with the same parser as a submit (POST /patients/check) and
  // answers with at most one message; it is shown beside its field once that field has been
  // touched. The submit still decides: this only tells staff sooner.
  const form = document.querySelector("form[data-validate]");
  if (!form || !form.dataset.checkUrl) return;
  const token = form.querySelector("input[name=csrf_token]");
  const touched = new Set();
  let pending = 0;
  let asked = 0;
  async function check() {
    const body = new URLSearchParams();
    for (const [name, value] of new FormData(form)) {
      if (!NOT_LIVE_CHECKED.has(name) && typeof value === "string") body.append(name, value);
    }
    const mine = ++asked;
    let answer;
    try {
      answer = await fetch(form.dataset.checkUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": token ? token.value : "" },
        body,
      });
    } catch (_) {
      return;  // offline or server gone: the submit will say what is wrong
    }
    if (!answer.ok || mine !== asked) return;  // a later check is on its way
    const result = await answer.json();
    touched.forEach((name) => {
      showFieldError(form, name, name === result.field ? result.message : "");
    });
    form.dataset.liveChecked = String(mine);
  }
  function changed(event) {
    const target = event.target;
    if (!(target instanceof HTMLElement) || !target.getAttribute("name")) return;
    const name = target.getAttribute("name");
    if (NOT_LIVE_CHECKED.has(name)) return;
    touched.add(name);
    window.clearTimeout(pending);
    pending = window.setTimeout(check, event.type === "change" ? 0 : 400);
  }
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
}

function smallActions() {
  // What were inline handlers: the page's Content-Security-Policy runs no inline script.
  for (const field of document.querySelectorAll("[data-select-on-focus]")) {
    field.addEventListener("focus", () => field.select());
  }
  for (const button of document.querySelectorAll("[data-print]")) {
    button.addEventListener("click", () => window.print());
  }
  for (const link of document.querySelectorAll("a[data-back]")) {
    link.addEventListener("click", (event) => { event.preventDefault(); history.back(); });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  smallActions();
  startConsoleTimer();
  consoleKeys();
  liveSearch();
  clearErrorsOnEdit();
  liveIntakeChecks();
});
