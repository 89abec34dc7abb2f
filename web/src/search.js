// The exchange's search box: titles that complete what the editor is typing, from
// /api/v1/search/suggest (the session cookie signs the request in).
const input = document.querySelector("input[data-suggest]");
const list = document.getElementById("suggestions");
if (input && list) {
  let timer = 0;
  let asked = "";
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const q = input.value.trim();
      if (!q || q === asked) return;
      asked = q;
      try {
        const res = await fetch(`${input.dataset.suggest}?q=${encodeURIComponent(q)}`, {
          credentials: "same-origin",
          headers: { accept: "application/json" },
        });
        if (!res.ok || q !== input.value.trim()) return;
        const { suggestions } = await res.json();
        list.replaceChildren(
          ...suggestions.map((title) => {
            const o = document.createElement("option");
            o.value = title;
            return o;
          }),
        );
      } catch {
        // Suggestions are a convenience; the search itself still works.
      }
    }, 200);
  });
}
