// The item page's player: HLS through hls.js (native HLS where the browser has it), a
// quality menu built from the ladder's renditions, and a seek bar that previews the picture
// under the pointer from the storyboard's WebVTT (sprite sheets addressed with #xywh=).
import Hls from "hls.js";

const video = document.getElementById("player");
const quality = document.getElementById("quality");
const scrubber = document.getElementById("scrubber");

if (video) {
  const src = video.dataset.src;
  if (Hls.isSupported()) {
    const hls = new Hls({ capLevelToPlayerSize: true });
    hls.loadSource(src);
    hls.attachMedia(video);
    hls.on(Hls.Events.MANIFEST_PARSED, (_event, data) => {
      if (!quality || data.levels.length < 2) return;
      // A live channel's playlist is read again after a break: the menu is made anew.
      while (quality.options.length > 1) quality.remove(1);
      // Best first, as the ladder is listed everywhere else.
      const byQuality = data.levels.map((level, i) => ({ level, i })).sort((a, b) => b.level.bitrate - a.level.bitrate);
      byQuality.forEach(({ level, i }) => {
        const option = document.createElement("option");
        option.value = String(i);
        // The short side names a rendition, as the search filters do: a vertical 720x1280
        // clip is 720p, not 1280p.
        const side = Math.min(level.width || level.height, level.height || level.width);
        option.textContent = side ? `${side}p` : `${Math.round(level.bitrate / 1000)} kbit/s`;
        quality.append(option);
      });
      quality.value = "-1";
      quality.disabled = false;
    });
    quality?.addEventListener("change", () => {
      hls.currentLevel = Number(quality.value);
    });
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
      // A live channel that has not broadcast yet has no playlist: ask again until it has.
      else if (data.details === Hls.ErrorDetails.MANIFEST_LOAD_ERROR) setTimeout(() => hls.loadSource(src), 3000);
      else if (data.type === Hls.ErrorTypes.NETWORK_ERROR) setTimeout(() => hls.startLoad(), 2000);
    });
    // A live channel on air starts playing (muted) whenever its playlist is read (a play()
    // before that is lost, and a reload after an error reads it again); off air, its last
    // window waits for a click, until the page's poll sees the channel go live.
    let onAir = Boolean(video.dataset.live) && "onAir" in video.dataset;
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      if (onAir) video.play().catch(() => {});
    });
    window.cityxPlayer = hls;
    window.cityxGoLive = () => {
      onAir = true;
      hls.loadSource(src);
    };
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = src;
  }
  if (scrubber) seekBar(video, scrubber);
  // The technical check's time codes seek the player to the finding.
  for (const button of document.querySelectorAll("[data-seek]")) {
    button.addEventListener("click", () => {
      video.currentTime = Number(button.dataset.seek);
      video.scrollIntoView({ block: "nearest", behavior: "smooth" });
      video.play().catch(() => {});
    });
  }
}

/** `00:01:23.500` → 83.5 */
function vttSeconds(s) {
  const parts = s.trim().split(":").map(Number);
  return parts.reduce((sum, p) => sum * 60 + p, 0);
}

/** The cues of a storyboard WebVTT: [{start, end, url, x, y, w, h}], urls resolved against `base`. */
export function parseStoryboard(text, base) {
  const cues = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const lines = block.split(/\r?\n/).filter((l) => l.trim() !== "");
    const timing = lines.findIndex((l) => l.includes("-->"));
    if (timing < 0 || !lines[timing + 1]) continue;
    const [from, to] = lines[timing].split("-->");
    const [file, fragment] = lines[timing + 1].trim().split("#xywh=");
    const [x, y, w, h] = (fragment || "").split(",").map(Number);
    if ([x, y, w, h].some((n) => !Number.isFinite(n))) continue;
    cues.push({ start: vttSeconds(from), end: vttSeconds(to), url: new URL(file, base).href, x, y, w, h });
  }
  return cues;
}

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600);
  const mm = String(Math.floor(s / 60) % 60).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** A seek bar under the video: click or keys to seek, and a preview tile above the pointer. */
function seekBar(video, bar) {
  const fill = bar.querySelector(".scrubber-fill");
  const preview = bar.querySelector(".scrubber-preview");
  const picture = preview.querySelector(".scrubber-picture");
  const label = preview.querySelector(".scrubber-time");
  let cues = [];
  const vtt = bar.dataset.storyboard;
  if (vtt) {
    fetch(vtt, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : ""))
      .then((text) => {
        cues = parseStoryboard(text, new URL(vtt, window.location.href));
        bar.dataset.cues = String(cues.length);
      })
      .catch(() => {});
  }
  const duration = () => (Number.isFinite(video.duration) ? video.duration : 0);
  const at = (clientX) => {
    const box = bar.getBoundingClientRect();
    const ratio = Math.min(1, Math.max(0, (clientX - box.left) / box.width));
    return { ratio, time: ratio * duration(), left: clientX - box.left, width: box.width };
  };
  const show = (clientX) => {
    const { time, left, width } = at(clientX);
    label.textContent = clock(time);
    const cue = cues.find((c) => time >= c.start && time < c.end) || (time > 0 && cues[cues.length - 1]);
    if (cue) {
      picture.style.width = `${cue.w}px`;
      picture.style.height = `${cue.h}px`;
      picture.style.backgroundImage = `url("${cue.url}")`;
      picture.style.backgroundPosition = `-${cue.x}px -${cue.y}px`;
      picture.hidden = false;
      bar.dataset.previewUrl = cue.url;
      bar.dataset.previewXy = `${cue.x},${cue.y}`;
    } else {
      picture.hidden = true;
    }
    const half = (cue ? cue.w : 60) / 2;
    preview.style.left = `${Math.min(width - half, Math.max(half, left))}px`;
    preview.hidden = false;
  };
  bar.addEventListener("pointermove", (e) => show(e.clientX));
  bar.addEventListener("pointerleave", () => {
    preview.hidden = true;
  });
  bar.addEventListener("click", (e) => {
    if (duration()) video.currentTime = at(e.clientX).time;
  });
  bar.addEventListener("keydown", (e) => {
    const step = { ArrowLeft: -5, ArrowRight: 5, PageDown: -30, PageUp: 30 }[e.key];
    if (step === undefined || !duration()) return;
    e.preventDefault();
    video.currentTime = Math.min(duration(), Math.max(0, video.currentTime + step));
  });
  const update = () => {
    const d = duration();
    const ratio = d ? video.currentTime / d : 0;
    fill.style.width = `${ratio * 100}%`;
    bar.setAttribute("aria-valuenow", String(Math.round(video.currentTime)));
    bar.setAttribute("aria-valuemax", String(Math.round(d)));
    bar.setAttribute("aria-valuetext", `${clock(video.currentTime)} / ${clock(d)}`);
  };
  video.addEventListener("timeupdate", update);
  video.addEventListener("durationchange", update);
}
