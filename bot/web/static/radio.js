// The radio page (bot/web/radio.py): follows the station through server-sent events (a clip
// each, then "ended"), adds each clip's spectrogram to the timeline, and plays the station's
// MP3 stream from the clip the page shows; "Now" follows what the audio plays.
"use strict";
(() => {
  const main = document.querySelector("main[data-radio]");
  if (!main) return;
  const now = document.getElementById("now");
  const status = document.getElementById("status");
  const timeline = document.getElementById("timeline");
  const audio = document.getElementById("audio");
  const listen = document.getElementById("listen");
  const clips = new Map(); // index -> {at_s, label, figure}
  let startAt = null; // where this page's audio starts in the station's stream (seconds)
  let waitingForFirst = false;

  for (const fig of timeline.querySelectorAll("figure")) {
    clips.set(Number(fig.dataset.index), {
      at_s: Number(fig.dataset.at), label: fig.title, figure: fig,
    });
  }

  const newest = () => {
    let best = null;
    for (const [index, clip] of clips) if (best === null || index > best[0]) best = [index, clip];
    return best;
  };

  const add = (clip) => {
    if (clips.has(clip.index)) return;
    const fig = document.createElement("figure");
    fig.dataset.index = clip.index;
    fig.title = clip.label;
    if (clip.image) {
      const img = document.createElement("img");
      img.src = clip.image;
      img.alt = `spectrogram of clip ${clip.index}`;
      fig.append(img);
    } else {
      const blank = document.createElement("div");
      blank.className = "no-image";
      fig.append(blank);
    }
    const caption = document.createElement("figcaption");
    caption.textContent = clip.label;
    fig.append(caption);
    timeline.append(fig);
    clips.set(clip.index, { at_s: clip.at_s, label: clip.label, figure: fig });
    if (waitingForFirst) {
      startAt = clip.at_s;
      waitingForFirst = false;
    }
  };

  const show = () => {
    let playing = null;
    if (startAt !== null && !audio.paused) {
      const t = startAt + audio.currentTime;
      for (const [index, clip] of clips) {
        if (clip.at_s <= t + 0.05 && (playing === null || index > playing[0])) playing = [index, clip];
      }
    }
    playing = playing || newest();
    if (!playing) return;
    now.textContent = playing[1].label;
    const fig = playing[1].figure;
    if (fig.classList.contains("playing")) return;
    for (const clip of clips.values()) clip.figure.classList.toggle("playing", clip === playing[1]);
    timeline.scrollTo({ left: fig.offsetLeft - timeline.offsetLeft - timeline.clientWidth / 3 });
  };

  const events = new EventSource(main.dataset.events);
  events.addEventListener("clip", (e) => {
    add(JSON.parse(e.data));
    show();
  });
  events.addEventListener("ended", (e) => {
    const data = JSON.parse(e.data);
    events.close();
    status.textContent = data.text;
    main.classList.add("ended");
    listen.disabled = true;
  });
  events.addEventListener("error", () => {
    if (events.readyState !== EventSource.CLOSED) status.textContent = "Reconnecting…";
  });
  events.addEventListener("open", () => { status.textContent = "Live"; });

  const stop = () => {
    audio.pause();
    audio.removeAttribute("src");
    audio.load();
    startAt = null;
    listen.textContent = "▶ Listen";
  };

  listen.addEventListener("click", () => {
    if (audio.getAttribute("src")) {
      stop();
      return;
    }
    const latest = newest();
    startAt = latest ? latest[1].at_s : null;
    waitingForFirst = latest === null;
    audio.src = main.dataset.stream + (latest ? `?from=${latest[0]}` : "");
    audio.play().catch(() => { status.textContent = "Press Listen again to play."; });
    listen.textContent = "■ Stop";
  });
  audio.addEventListener("timeupdate", show);
  audio.addEventListener("ended", stop);
  show();
})();
