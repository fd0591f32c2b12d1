// SignBridge live page: rolling captions and the voice from the server's event stream.
// window.live holds counters the tests read (captions shown, audio pieces received and played).
(function () {
  "use strict";
  const MAX_LINES = 50;
  const live = window.live = {captions: 0, partials: 0, audioPieces: 0, audioPlayed: 0, audioSeconds: 0,
                              audioMuted: 0, audioErrors: 0, ended: false, texts: []};
  const $ = (id) => document.getElementById(id);
  let ctx = null, nextStart = 0;

  function fmt(s) { return s == null ? "" : s.toFixed(1) + " s"; }

  $("voice").addEventListener("click", async () => {
    if (!ctx) ctx = new (window.AudioContext || window.webkitAudioContext)();
    await ctx.resume();
    live.audioState = ctx.state;
    $("voice").textContent = "Voice on";
    $("voice").disabled = true;
  });

  function b64ToBuffer(b64) {
    const bin = atob(b64), out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  async function play(piece) {
    live.audioPieces++;
    if (!ctx || ctx.state !== "running") { live.audioMuted++; return; }
    try {
      const buf = await ctx.decodeAudioData(b64ToBuffer(piece.wav));
      const src = ctx.createBufferSource();
      src.buffer = buf;
      src.connect(ctx.destination);
      const at = Math.max(ctx.currentTime, nextStart);
      src.start(at);
      nextStart = at + buf.duration;
      live.audioPlayed++;
      live.audioSeconds += buf.duration;
    } catch (e) {
      live.audioErrors++;
    }
  }

  function caption(ev) {
    const li = document.createElement("li");
    const t = document.createElement("span");
    t.className = "t";
    t.textContent = fmt(ev.sign_start_s) + "–" + fmt(ev.sign_end_s);
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = ev.text;
    li.appendChild(t);
    li.appendChild(text);
    li.dataset.phrase = ev.phrase;
    $("captions").appendChild(li);
    while ($("captions").children.length > MAX_LINES) $("captions").firstChild.remove();
    li.scrollIntoView({block: "end"});
    live.captions++;
    live.texts.push(ev.text);
    $("partial").textContent = "";
  }

  const es = new EventSource("/events");
  es.addEventListener("open", () => { $("status").textContent = "connected"; });
  es.addEventListener("ready", (m) => { $("status").textContent = JSON.parse(m.data).text; });
  es.addEventListener("partial", (m) => { live.partials++; $("partial").textContent = JSON.parse(m.data).text; });
  es.addEventListener("caption", (m) => caption(JSON.parse(m.data)));
  es.addEventListener("voice", (m) => play(JSON.parse(m.data)));
  es.addEventListener("end", (m) => {
    live.ended = true;
    $("status").textContent = "stream ended: " + JSON.parse(m.data).text;
    es.close();
  });
  es.addEventListener("error", () => { if (!live.ended) $("status").textContent = "reconnecting…"; });
})();
