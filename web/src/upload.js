// The upload page: resumable uploads with tus-js-client. Each file gets a progress bar;
// uploads pause and resume, retry through network trouble and server restarts, and an upload
// of the same file interrupted earlier (even in a browser that was closed) continues where it
// stopped.
import * as tus from "tus-js-client";

const form = document.getElementById("upload-form");
if (form) {
  const text = JSON.parse(document.getElementById("upload-text").textContent);
  const csrf = form.dataset.csrf;
  const maxSize = Number(form.dataset.max);
  const queue = document.getElementById("queue");
  const queueBox = document.getElementById("queue-box");
  const template = document.getElementById("item-template");
  const filesInput = document.getElementById("files");
  const titlesBox = document.getElementById("file-titles");
  const titlesList = titlesBox.querySelector("ol");
  const singleTitle = document.getElementById("single-title");

  const human = (bytes) => {
    const units = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (bytes >= 1024 && i < units.length - 1) {
      bytes /= 1024;
      i += 1;
    }
    return `${bytes.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
  };

  // The API's error codes, in the reader's language.
  const explain = (err) => {
    const res = err && err.originalResponse;
    if (res) {
      try {
        const error = JSON.parse(res.getBody()).error;
        // Name each refused field and why, as the page's forms do.
        const fields = (error.fields || [])
          .filter((f) => text.fields[f.field])
          .map((f) => `${text.fields[f.field]}${text.colon}${text.reasons[f.code] || f.message}`);
        if (fields.length) return fields.join("；");
        if (text.errors[error.code]) return text.errors[error.code];
      } catch {
        /* not our JSON */
      }
      return `${text.failed} (HTTP ${res.getStatus()})`;
    }
    return text.network;
  };

  // The file name without its extension: what the server would title it too.
  const stem = (name) => name.replace(/\.[^.]*$/, "") || name;

  // Several files: each gets its own title, from its file name, editable here; one file
  // uses the form's title field.
  const showTitles = () => {
    const files = Array.from(filesInput.files);
    titlesList.replaceChildren();
    const several = files.length > 1;
    titlesBox.hidden = !several;
    singleTitle.hidden = several;
    if (!several) return;
    files.forEach((file, i) => {
      const li = document.createElement("li");
      const label = document.createElement("label");
      label.textContent = `${file.name} · ${text.file_title} `;
      const input = document.createElement("input");
      input.name = `title_${i}`;
      input.maxLength = 200;
      input.value = stem(file.name);
      input.dataset.fileTitle = String(i);
      label.append(input);
      li.append(label);
      titlesList.append(li);
    });
  };
  filesInput.addEventListener("change", showTitles);

  const metadataFor = (file, index, several) => {
    const data = new FormData(form);
    const meta = { filename: file.name };
    for (const key of ["title", "summary", "script", "keywords", "category", "city", "shot_date", "copyright", "licence", "visibility"]) {
      const v = (data.get(key) || "").toString().trim();
      if (v) meta[key] = v;
    }
    if (several) {
      const own = (data.get(`title_${index}`) || "").toString().trim();
      meta.title = own || stem(file.name);
    }
    const embargo = (data.get("embargo_until") || "").toString();
    if (embargo) meta.embargo_until = new Date(embargo).toISOString();
    return meta;
  };

  const start = (file, metadata, batch) => {
    const item = template.content.firstElementChild.cloneNode(true);
    // The server took this file (created, or resumed and moving): counted once.
    let taken = false;
    const took = () => {
      if (!taken) {
        taken = true;
        batch.took();
      }
    };
    const bar = item.querySelector("progress");
    const status = item.querySelector("[data-status]");
    const pause = item.querySelector("[data-pause]");
    const cancel = item.querySelector("[data-cancel]");
    const link = item.querySelector("[data-link]");
    item.querySelector("[data-name]").textContent = metadata.title ? `${metadata.title} (${file.name})` : file.name;
    item.querySelector("[data-size]").textContent = human(file.size);
    queue.prepend(item);

    if (file.size > maxSize) {
      batch.refused();
      status.textContent = text.errors.upload_too_large;
      item.classList.add("failed");
      pause.hidden = true;
      cancel.hidden = true;
      return;
    }

    let last = { at: performance.now(), bytes: 0 };
    let running = false;
    const upload = new tus.Upload(file, {
      endpoint: "/api/v1/uploads",
      chunkSize: 16 * 1024 * 1024,
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000, 30000],
      metadata,
      headers: { "X-CSRF-Token": csrf },
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      onAfterResponse(req, res) {
        const asset = res.getHeader("Cityx-Asset-Id");
        if (asset && req.getMethod() === "POST") {
          localStorage.setItem(`cityx-asset:${res.getHeader("Location")}`, asset);
          took();
        }
      },
      onProgress(sent, total) {
        took();
        bar.max = total;
        bar.value = sent;
        const now = performance.now();
        const seconds = (now - last.at) / 1000;
        if (seconds >= 1) {
          item.dataset.speed = human((sent - last.bytes) / seconds);
          last = { at: now, bytes: sent };
        }
        const percent = total ? Math.floor((sent / total) * 100) : 100;
        status.textContent = `${percent}% · ${human(sent)} / ${human(total)}${item.dataset.speed ? ` · ${item.dataset.speed}/s` : ""}`;
      },
      // tus-js-client's own rule (not 4xx, but 409 and 423), with the user told that it retries.
      onShouldRetry(err, attempt) {
        const res = err && err.originalResponse;
        const code = res ? res.getStatus() : 0;
        const retry = !(code >= 400 && code < 500) || code === 409 || code === 423;
        if (retry) status.textContent = text.reconnecting.replace("{n}", String(attempt + 1));
        return retry;
      },
      onError(err) {
        if (!taken) batch.refused();
        running = false;
        item.classList.add("failed");
        status.textContent = explain(err);
        pause.textContent = text.retry;
      },
      onSuccess() {
        took();
        running = false;
        bar.max = 1;
        bar.value = 1;
        item.classList.add("done");
        status.textContent = text.done;
        pause.hidden = true;
        cancel.hidden = true;
        const key = Object.keys(localStorage).find((k) => k.startsWith("cityx-asset:") && upload.url && upload.url.endsWith(k.slice(12)));
        const asset = key && localStorage.getItem(key);
        if (asset) {
          link.href = `/items/${asset}`;
          link.hidden = false;
          localStorage.removeItem(key);
        }
      },
    });

    const go = () => {
      running = true;
      item.classList.remove("failed");
      pause.textContent = text.pause;
      upload.start();
    };
    pause.addEventListener("click", () => {
      if (running) {
        running = false;
        upload.abort();
        pause.textContent = text.resume;
        status.textContent = `${text.paused} · ${status.textContent}`;
      } else {
        go();
      }
    });
    cancel.addEventListener("click", async () => {
      if (!window.confirm(text.confirm_cancel)) return;
      running = false;
      await upload.abort(true).catch(() => {});
      item.classList.add("failed");
      status.textContent = text.cancelled;
      pause.hidden = true;
      cancel.hidden = true;
    });

    upload.findPreviousUploads().then((previous) => {
      if (previous.length > 0) {
        upload.resumeFromPreviousUpload(previous[0]);
        item.querySelector("[data-resumed]").hidden = false;
      }
      go();
    });
  };

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const files = Array.from(filesInput.files);
    const several = files.length > 1;
    const metadata = files.map((f, i) => metadataFor(f, i, several));
    // Once the server has taken every file, the form is ready for the next batch: its fields
    // are cleared (the visibility keeps its choice). If it refused one, what was typed stays
    // to be put right.
    let waiting = files.length;
    let refused = false;
    const batch = {
      took() {
        waiting -= 1;
        if (waiting === 0 && !refused) {
          const visibility = form.elements.visibility.value;
          form.reset();
          form.elements.visibility.value = visibility;
          showTitles();
        }
      },
      refused() {
        refused = true;
      },
    };
    files.forEach((f, i) => start(f, metadata[i], batch));
    // The progress list is where the eye is.
    queueBox.hidden = false;
    queueBox.scrollIntoView({ behavior: "smooth", block: "start" });
  });
}

// The item page follows processing until the item settles.
const live = document.querySelector("[data-asset-live]");
if (live) {
  const id = live.dataset.assetLive;
  const poll = async () => {
    try {
      const res = await fetch(`/api/v1/assets/${id}`, { credentials: "same-origin" });
      if (res.ok) {
        const asset = await res.json();
        // Progress moves in place; a new state or something new to play reloads the page,
        // but never under a viewer who is watching.
        for (const job of asset.jobs) {
          const bar = document.querySelector(`progress[data-job="${job.kind}"]`);
          if (bar) bar.value = job.progress;
        }
        const signature = `${asset.status}|${asset.jobs.map((j) => j.state).join(",")}|${asset.playback ?? ""}`;
        const player = document.getElementById("player");
        if (signature !== live.dataset.signature && (!player || player.paused)) {
          window.location.reload();
          return;
        }
      }
    } catch {
      /* try again */
    }
    setTimeout(poll, 3000);
  };
  setTimeout(poll, 3000);
}
