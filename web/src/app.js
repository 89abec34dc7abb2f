// Small progressive enhancements for the server-rendered pages. Every page works without
// this script; it only adds confirmations, copy buttons and the mobile menu.

function onReady(fn) {
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
  else fn();
}

onReady(() => {
  // <form data-confirm="…"> asks before submitting (revoke, disable …).
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (ev) => {
      if (!window.confirm(form.dataset.confirm)) ev.preventDefault();
    });
  }

  // <button data-copy="#id"> copies the text of the element it names.
  for (const btn of document.querySelectorAll("button[data-copy]")) {
    btn.hidden = false;
    btn.addEventListener("click", async () => {
      const target = document.querySelector(btn.dataset.copy);
      if (!target) return;
      try {
        await navigator.clipboard.writeText(target.textContent.trim());
        const label = btn.textContent;
        btn.textContent = btn.dataset.copied || "✓";
        setTimeout(() => (btn.textContent = label), 1500);
      } catch {
        const range = document.createRange();
        range.selectNodeContents(target);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
      }
    });
  }

  // The menu button on narrow screens.
  const toggle = document.querySelector("[data-nav-toggle]");
  const nav = document.getElementById("main-nav");
  if (toggle && nav) {
    toggle.hidden = false;
    toggle.addEventListener("click", () => {
      const open = nav.classList.toggle("open");
      toggle.setAttribute("aria-expanded", String(open));
    });
  }

  // Station roles need a station; hub roles must not have one.
  const role = document.querySelector("select[name=role][data-hub-roles]");
  const station = document.querySelector("select[name=station_id]");
  if (role && station) {
    const hubRoles = role.dataset.hubRoles.split(" ");
    const sync = () => {
      const hub = hubRoles.includes(role.value);
      station.disabled = hub;
      station.required = !hub;
      if (hub) station.value = "";
    };
    role.addEventListener("change", sync);
    sync();
  }
});
