// The item page's player: HLS through hls.js (native HLS where the browser has it), with a
// quality menu built from the ladder's renditions.
import Hls from "hls.js";

const video = document.getElementById("player");
const quality = document.getElementById("quality");

if (video) {
  const src = video.dataset.src;
  if (Hls.isSupported()) {
    const hls = new Hls({ capLevelToPlayerSize: true });
    hls.loadSource(src);
    hls.attachMedia(video);
    hls.on(Hls.Events.MANIFEST_PARSED, (_event, data) => {
      if (!quality || data.levels.length < 2) return;
      // Best first, as the ladder is listed everywhere else.
      const byQuality = data.levels.map((level, i) => ({ level, i })).sort((a, b) => b.level.bitrate - a.level.bitrate);
      byQuality.forEach(({ level, i }) => {
        const option = document.createElement("option");
        option.value = String(i);
        option.textContent = level.height ? `${level.height}p` : `${Math.round(level.bitrate / 1000)} kbit/s`;
        quality.append(option);
      });
      quality.disabled = false;
      quality.addEventListener("change", () => {
        hls.currentLevel = Number(quality.value);
      });
    });
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
      else if (data.type === Hls.ErrorTypes.NETWORK_ERROR) setTimeout(() => hls.startLoad(), 2000);
    });
    window.cityxPlayer = hls;
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = src;
  }
}
