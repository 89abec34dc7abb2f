// Live pages. The wall refreshes the thumbnails of channels on air; a channel's page keeps its
// state and input health current (from the API every few seconds) and reloads the player
// when a broadcast starts, so that a viewer waiting for it needs no reload.
const wall = document.querySelector("[data-live-wall]");
if (wall) {
  setInterval(() => {
    for (const img of wall.querySelectorAll("img[data-refresh]")) {
      const url = new URL(img.src, location.href);
      url.searchParams.set("t", String(Date.now()));
      img.src = url.toString();
    }
  }, 10_000);
}

// A page that showed a key once (after creating a channel or rotating its key) stands at the
// channel's own address, so that reloading it sends nothing again.
const shown = document.querySelector("[data-replace-url]");
if (shown) history.replaceState(null, "", shown.dataset.replaceUrl);

// The alarms' and troubles' names in the page's language, and a failure as the page says it:
// the code's name, then the operators' detail (in Chinese, the name alone, with the English
// detail as its hover text: `troubleDetail`).
const namesScript = document.getElementById("live-names");
const names = namesScript ? JSON.parse(namesScript.textContent || "{}") : {};
const chinese = (document.documentElement.lang || "").startsWith("zh");
const troubleText = (code, detail) => {
  const name = code && names.troubles ? names.troubles[code] || code : "";
  if (name && detail && !chinese) return `${name} · ${detail}`;
  return name || detail || "";
};
// `YYYY-MM-DD HH:MM` in China Standard Time, as the server writes times.
const beijing = (d) => {
  const t = new Date(d.getTime() + 8 * 3600_000);
  const two = (n) => String(n).padStart(2, "0");
  return `${t.getUTCFullYear()}-${two(t.getUTCMonth() + 1)}-${two(t.getUTCDate())} ${two(t.getUTCHours())}:${two(t.getUTCMinutes())}`;
};
const troubleDetail = (code, detail) => (code && chinese ? detail || "" : "");

const video = document.querySelector("video[data-live]");
if (video) {
  const id = video.dataset.live;
  const state = document.getElementById("channel-state");
  const idle = document.getElementById("live-idle-note");
  const slateNote = document.getElementById("live-slate-note");
  let wasLive = state && state.classList.contains("on");
  const alarmsCell = document.querySelector('[data-health="alarms"]');
  const alarmNames = names.alarms || {};
  // A converted input shows what it is converted to.
  const codec = (h, name, to) => (!name ? "—" : h.converted && name !== to ? `${name} → ${to}` : name);
  const show = (h) => {
    const text = {
      video: codec(h, h.video_codec, "h264"),
      audio: codec(h, h.audio_codec, "aac"),
      size: h.width ? `${h.width}×${h.height}` : "—",
      fps: h.fps.toFixed(1),
      kbps: String(h.kbps),
      keyframe: h.keyframe_secs.toFixed(1),
      uptime: String(h.uptime_secs),
      reconnects: String(h.reconnects),
      remote: h.remote || "—",
      error: troubleText(h.error_code, h.error) || "—",
      level: h.audio_db === null || h.audio_db === undefined ? "—" : h.audio_db.toFixed(1),
      alarms: (h.alarms || []).map((a) => alarmNames[a] || a).join("、") || "—",
    };
    // On the slate there is no input: its figures would be the card's.
    if (h.slate) {
      for (const id of ["video", "audio", "size", "fps", "kbps", "keyframe", "uptime", "level"]) text[id] = "—";
    }
    for (const dd of document.querySelectorAll("[data-health]")) {
      const value = text[dd.dataset.health];
      if (value !== undefined) dd.textContent = value;
    }
    const errorCell = document.querySelector('[data-health="error"]');
    if (errorCell) {
      const detail = troubleDetail(h.error_code, h.error);
      if (detail) errorCell.title = detail;
      else errorCell.removeAttribute("title");
    }
    if (alarmsCell) alarmsCell.classList.toggle("alarm", (h.alarms || []).length > 0);
  };
  const poll = async () => {
    try {
      const res = await fetch(`/api/v1/channels/${id}`, { headers: { Accept: "application/json" } });
      if (!res.ok) return;
      const { channel } = await res.json();
      const live = channel.state === "live";
      const slate = live && Boolean(channel.health && channel.health.slate);
      if (state) {
        state.classList.toggle("on", live && !slate);
        state.classList.toggle("warn", slate);
        state.textContent = slate ? state.dataset.slate : live ? state.dataset.on : state.dataset.off;
      }
      if (idle) idle.hidden = live;
      // Since when it is on air, as the page says it (China Standard Time).
      const since = document.getElementById("live-since");
      if (since) {
        since.hidden = !live || !channel.live_since;
        const at = since.querySelector("time");
        if (live && channel.live_since && at) at.textContent = beijing(new Date(channel.live_since));
      }
      if (channel.health) {
        const section = document.getElementById("health-section");
        if (section) section.hidden = false;
      }
      // Off air, the figures are the last broadcast's, and look it.
      const healthTitle = document.getElementById("health-title");
      if (healthTitle) healthTitle.textContent = live ? healthTitle.dataset.now : healthTitle.dataset.last;
      document.getElementById("health")?.classList.toggle("stale", !live);
      if (slateNote) slateNote.hidden = !slate;
      if (channel.health) show(channel.health);
      if (live && !wasLive && window.cityxGoLive) window.cityxGoLive();
      wasLive = live;
    } catch {
      // The next poll tries again.
    }
  };
  setInterval(poll, 3000);
}

// The clip form: in and out points from where the player is (the playlist's program date-time
// clock, which the server cuts by).
const clip = document.querySelector("form[data-clip]");
if (clip && video) {
  const hint = document.getElementById("clip-play-first");
  const clock = (d) =>
    d.toLocaleTimeString("zh-CN", { hour12: false, timeZone: "Asia/Shanghai" });
  const set = (which, date) => {
    document.getElementById(`clip-${which}`).value = date.toISOString();
    document.getElementById(`clip-${which}-shown`).textContent = clock(date);
  };
  const playing = () => {
    const date = window.cityxPlayer && window.cityxPlayer.playingDate;
    if (hint) hint.hidden = Boolean(date);
    return date || null;
  };
  for (const button of clip.querySelectorAll("[data-mark]")) {
    button.addEventListener("click", () => {
      const date = playing();
      if (date) set(button.dataset.mark, date);
    });
  }
  for (const button of clip.querySelectorAll("[data-last]")) {
    button.addEventListener("click", () => {
      const date = playing();
      if (!date) return;
      set("to", date);
      set("from", new Date(date.getTime() - Number(button.dataset.last) * 1000));
    });
  }
}

// Restream targets (for the channel's admins): each push's state, bytes and rate, every few
// seconds.
const targets = document.querySelector("[data-targets]");
if (targets) {
  const id = targets.dataset.targets;
  const megabytes = (b) => `${(b / 1_000_000).toFixed(1)} MB`;
  const poll = async () => {
    try {
      const res = await fetch(`/api/v1/channels/${id}/targets`, {
        headers: { Accept: "application/json" },
      });
      if (!res.ok) return;
      const { items } = await res.json();
      for (const t of items) {
        const row = targets.querySelector(`[data-target="${t.id}"]`);
        if (!row) continue;
        const badge = row.querySelector("[data-target-state]");
        badge.className = `badge target-${t.state}`;
        badge.textContent = targets.dataset[t.state] || t.state;
        const error = row.querySelector("[data-target-error]");
        // While idle or pushing again, the error is the last failure, said so.
        const text = troubleText(t.error_code, t.error);
        const past = t.state === "idle" || t.state === "live";
        error.textContent = text && past ? targets.dataset.lastError + text : text;
        const detail = troubleDetail(t.error_code, t.error);
        if (detail) error.title = detail;
        else error.removeAttribute("title");
        error.hidden = !error.textContent;
        row.querySelector("[data-target-sent]").textContent = megabytes(t.bytes);
        row.querySelector("[data-target-kbps]").textContent = String(t.kbps);
        row.querySelector("[data-target-attempts]").textContent = String(t.attempts);
      }
    } catch {
      // The next poll tries again.
    }
  };
  setInterval(poll, 3000);
}
