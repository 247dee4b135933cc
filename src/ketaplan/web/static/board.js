// ketaplan chair board: fetch today's chairs every few seconds and swap them in. The page
// works without this file (a "Refresh now" link); no inline script, so the CSP holds.
"use strict";

function startBoard() {
  const board = document.getElementById("board");
  if (!board) return;
  const source = board.dataset.source;
  const everyMs = Math.max(2, parseInt(board.dataset.refreshS || "5", 10)) * 1000;
  const updated = document.getElementById("board-updated");
  let busy = false;
  async function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const answer = await fetch(source, { credentials: "same-origin", cache: "no-store" });
      if (answer.redirected || answer.status === 401) { window.location.reload(); return; }
      if (!answer.ok) throw new Error(String(answer.status));
      board.innerHTML = await answer.text();
      const stamp = board.querySelector(".chairs");
      if (updated && stamp) updated.textContent = "Updated " + stamp.dataset.updated;
      board.classList.remove("stale");
    } catch (error) {
      board.classList.add("stale");  // shown greyed until the next answer
    } finally {
      busy = false;
    }
  }
  window.setInterval(refresh, everyMs);
}

document.addEventListener("DOMContentLoaded", startBoard);
