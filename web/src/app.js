// Small progressive enhancements for the server-rendered pages. Every page works without
// this script; it only adds confirmations, copy buttons and the mobile menu.

function onReady(fn) {
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
  else fn();
}

onReady(() => {
  // <form data-confirm="…"> asks before submitting (revoke, disable …); so does a submit
  // button with its own data-confirm (a form's "remove" beside its "save").
  for (const form of document.querySelectorAll("form")) {
    form.addEventListener("submit", (ev) => {
      const ask = ev.submitter?.dataset.confirm || form.dataset.confirm;
      if (ask && !window.confirm(ask)) ev.preventDefault();
    });
  }

  // Lists with checkboxes (the library): a box that ticks every row, a count of what is
  // ticked, and buttons that need a selection and may ask first, naming how many.
  for (const form of document.querySelectorAll("form")) {
    const boxes = () => [...form.querySelectorAll("input[type=checkbox][name=ids]")];
    const all = form.querySelector("[data-select-all]");
    const count = form.querySelector("[data-selected-count]");
    if (!all && !count) continue;
    const update = () => {
      const n = boxes().filter((b) => b.checked).length;
      if (count) count.textContent = n ? count.dataset.template.replace("{n}", n) : "";
      if (all) all.checked = n > 0 && n === boxes().length;
    };
    all?.addEventListener("change", () => {
      for (const b of boxes()) b.checked = all.checked;
      update();
    });
    form.addEventListener("change", update);
    for (const button of form.querySelectorAll("button[data-none-selected]")) {
      button.addEventListener("click", (ev) => {
        const n = boxes().filter((b) => b.checked).length;
        if (n === 0) {
          window.alert(button.dataset.noneSelected);
          ev.preventDefault();
        } else if (button.dataset.confirmSelected && !window.confirm(button.dataset.confirmSelected.replace("{n}", n))) {
          ev.preventDefault();
        }
      });
    }
    update();
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

  // A form that came back with its mistakes: open it, bring its first message into view and
  // put the cursor on the first field it names, so that nothing seems to have just reloaded.
  const back = document.querySelector("form [role=alert]");
  if (back) {
    const fold = back.closest("details");
    if (fold) fold.open = true;
    back.setAttribute("tabindex", "-1");
    back.scrollIntoView({ block: "center" });
    const invalid = back.closest("form").querySelector("[aria-invalid=true]");
    (invalid || back).focus({ preventScroll: true });
  }

  // Filters fold away on a phone, so that results are on the first screen.
  if (window.matchMedia("(max-width: 50rem)").matches) {
    for (const fold of document.querySelectorAll("details[data-fold-narrow]")) fold.open = false;
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
