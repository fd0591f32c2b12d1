// SignBridge review pages: plain JS, no build step. SB.index() and SB.video() start a page.
"use strict";
const SB = (() => {
  const $ = (id) => document.getElementById(id);
  const el = (tag, props = {}, ...kids) => {
    const e = Object.assign(document.createElement(tag), props);
    kids.forEach((k) => e.append(k));
    return e;
  };
  async function api(path, body) {
    const opts = body === undefined ? {} : {method: "POST", headers: {"content-type": "application/json"},
                                            body: JSON.stringify(body)};
    const r = await fetch(path, opts);
    const data = await r.json().catch(() => ({error: r.statusText}));
    if (!r.ok) throw new Error(data.error || r.statusText);
    return data;
  }
  const secs = (ms) => ms == null ? "" : (ms / 1000).toFixed(1) + " s";

  // ------------------------------------------------------------------ index
  async function index() {
    const data = await api("/api/videos");
    $("results").textContent = data.results;
    if (!data.videos.length) $("empty").textContent = `No videos with results in ${data.results}.`;
    const rows = data.videos.map((v) => {
      const link = v.status === "failed" ? v.name : el("a", {href: "/v/" + v.id, textContent: v.name});
      const tr = el("tr", {className: v.status},
        el("td", {}, link), el("td", {textContent: v.status}), el("td", {textContent: secs(v.duration_ms)}),
        el("td", {textContent: v.signs}), el("td", {textContent: v.unclear}),
        el("td", {textContent: v.reviewed ? `yes (${v.revisions})` : "no"}),
        el("td", {textContent: v.rendered && v.rendered !== "model" ? "revised" : (v.queued ? "queued" : "model")}));
      tr.dataset.v = JSON.stringify(v);
      return tr;
    });
    $("videos").tBodies[0].replaceChildren(...rows);
    const apply = () => {
      const q = $("filter").value.toLowerCase(), st = $("status").value, rv = $("reviewed").value;
      let shown = 0;
      rows.forEach((tr) => {
        const v = JSON.parse(tr.dataset.v);
        const ok = v.name.toLowerCase().includes(q) && (!st || v.status === st) &&
          (!rv || (rv === "yes") === v.reviewed) && (!$("unclear").checked || v.unclear > 0);
        tr.hidden = !ok;
        shown += ok;
      });
      $("empty").hidden = shown > 0;
    };
    ["filter", "status", "reviewed", "unclear"].forEach((id) => $(id).addEventListener("input", apply));
    apply();
  }

  // ------------------------------------------------------------------ video
  const S = {vid: null, doc: null, spans: [], sources: [], sel: -1, vocab: new Set(), newGlosses: new Set(),
             duration: 1, revision: null, low: 0.6};

  function colour(span) {
    if (span.kind === "unknown") return "hsl(30, 70%, 70%)";
    const c = Math.max(0, Math.min(1, span.confidence));
    return `hsl(${Math.round(c * 120)}, 65%, 62%)`;
  }

  function drawTimeline() {
    const tl = $("timeline");
    tl.querySelectorAll(".span").forEach((n) => n.remove());
    S.spans.forEach((s, i) => {
      const d = el("div", {className: "span", textContent: s.label, title:
        `${s.label} (${s.kind}, confidence ${s.confidence.toFixed(2)}, ${S.sources[i]}) ${secs(s.start_ms)}-${secs(s.end_ms)}`});
      d.style.left = (100 * s.start_ms / S.duration) + "%";
      d.style.width = Math.max(0.5, 100 * (s.end_ms - s.start_ms) / S.duration) + "%";
      d.style.backgroundColor = colour(s);
      if (s.kind === "unknown" || s.confidence < S.low) d.classList.add("unclear");
      if (S.sources[i] === "reviewer") d.classList.add("reviewer");
      if (i === S.sel) d.classList.add("selected");
      d.dataset.index = i;
      d.addEventListener("click", () => select(i, true));
      tl.append(d);
    });
  }

  function select(i, seek) {
    S.sel = i < 0 || i >= S.spans.length ? -1 : i;
    drawTimeline();
    $("span-editor").hidden = S.sel < 0;
    $("no-span").hidden = S.sel >= 0;
    if (S.sel < 0) return;
    const s = S.spans[S.sel];
    $("span-info").textContent = `sign ${S.sel + 1} of ${S.spans.length}: ${s.label} (${s.kind}), ` +
      `confidence ${s.confidence.toFixed(2)}, ${secs(s.start_ms)}-${secs(s.end_ms)}, from the ${S.sources[S.sel]}`;
    $("gloss").value = s.label === "UNKNOWN" ? "" : s.label;
    $("start").value = Math.round(s.start_ms);
    $("end").value = Math.round(s.end_ms);
    $("topk").replaceChildren(...(s.top_k || []).map((t) =>
      el("button", {textContent: `${t.label} ${(t.prob * 100).toFixed(0)}%`, className: "topk",
                    onclick: () => setLabel(t.label)})));
    showNew();
    if (seek) $("player").currentTime = s.start_ms / 1000 + 0.001;
  }

  function showNew() {
    const g = $("gloss").value.trim();
    const outside = g && !S.vocab.has(g) && !g.startsWith("fs-") && g !== "UNKNOWN";
    $("new-label").hidden = !outside;
    $("new-gloss").checked = S.newGlosses.has(g);
  }

  function edited(i) { S.sources[i] = "reviewer"; }

  function setLabel(label) {
    if (S.sel < 0 || !label) return;
    const s = S.spans[S.sel];
    // the reviewer's word replaces the model's tier (undefined: left out of the saved JSON)
    if (label === "UNKNOWN") Object.assign(s, {label, kind: "unknown", confidence: 0, tier: "unclear"});
    else Object.assign(s, {label, kind: label.startsWith("fs-") ? "fingerspelling" : "gloss", confidence: 1, tier: undefined});
    edited(S.sel);
    changed();
  }

  function changed() {
    select(S.sel, false);
    preview();
  }

  let previewSeq = 0;
  async function preview() {
    const seq = ++previewSeq;
    try {
      const data = await api(`/api/videos/${S.vid}/preview`, {spans: S.spans});
      if (seq !== previewSeq) return;
      $("preview").replaceChildren(...data.sentences.map((s) =>
        el("li", {className: s.uncertain ? "uncertain" : "", textContent: `${secs(s.start_ms)} ${s.text}`})));
    } catch (e) { message(e.message, true); }
  }

  function message(text, bad) {
    $("message").textContent = text;
    $("message").className = bad ? "error" : "ok";
  }

  const actions = {
    apply() {
      const g = $("gloss").value.trim();
      if (g && !S.vocab.has(g) && !g.startsWith("fs-") && g !== "UNKNOWN") {
        if (!$("new-gloss").checked) { message(`"${g}" is not in the vocabulary: tick "new sign" to keep it`, true); return; }
        S.newGlosses.add(g);
      }
      setLabel(g);
    },
    unknown() { setLabel("UNKNOWN"); },
    notSign() {
      if (S.sel < 0) return;
      S.spans.splice(S.sel, 1); S.sources.splice(S.sel, 1);
      S.sel = Math.min(S.sel, S.spans.length - 1);
      changed();
    },
    split() {
      if (S.sel < 0) return;
      const s = S.spans[S.sel], t = $("player").currentTime * 1000;
      const at = t > s.start_ms + 50 && t < s.end_ms - 50 ? t : (s.start_ms + s.end_ms) / 2;
      const right = JSON.parse(JSON.stringify(s));
      s.end_ms = at; right.start_ms = at;
      S.spans.splice(S.sel + 1, 0, right); S.sources.splice(S.sel + 1, 0, "reviewer");
      edited(S.sel);
      changed();
    },
    merge() {
      if (S.sel < 0 || S.sel + 1 >= S.spans.length) return;
      const s = S.spans[S.sel], n = S.spans[S.sel + 1];
      s.end_ms = n.end_ms;
      S.spans.splice(S.sel + 1, 1); S.sources.splice(S.sel + 1, 1);
      edited(S.sel);
      changed();
    },
    move() {
      if (S.sel < 0) return;
      const a = Number($("start").value), b = Number($("end").value);
      const prev = S.spans[S.sel - 1], next = S.spans[S.sel + 1];
      if (!(b > a) || a < 0 || b > S.duration || (prev && a < prev.end_ms) || (next && b > next.start_ms)) {
        message("boundaries must keep the sign inside the video and not overlap its neighbours", true);
        return;
      }
      Object.assign(S.spans[S.sel], {start_ms: a, end_ms: b});
      edited(S.sel);
      changed();
    },
    async save() {
      const reviewer = $("reviewer").value.trim();
      if (!reviewer) { message("enter your name as reviewer first", true); return; }
      localStorage.setItem("signbridge-reviewer", reviewer);
      const used = new Set(S.spans.map((s) => s.label));
      try {
        const r = await api(`/api/videos/${S.vid}/revisions`, {reviewer, based_on: S.revision, spans: S.spans,
          sources: S.sources, new_glosses: [...S.newGlosses].filter((g) => used.has(g))});
        S.revision = r.id;
        message(`saved revision ${r.id}`);
        await loadRevisions();
      } catch (e) { message(e.message, true); }
    },
    async render() {
      message("rendering captions and voice ...");
      try {
        const r = await api(`/api/videos/${S.vid}/render`, {});
        const local = r.local_copy ? `; local copy ${r.local_copy.folder} updated` : "";
        message(`rendered revision ${r.revision}: ${r.kept_sentences.length} of ${r.sentences} sentences unchanged` +
                (r.local_copy_error ? `; ${r.local_copy_error}` : local), Boolean(r.local_copy_error));
        $("captions").src = `/media/${S.vid}/captions.vtt?t=${Date.now()}`;
        await loadRevisions();
      } catch (e) { message(e.message, true); }
    },
  };

  async function restore(rid) {
    const reviewer = $("reviewer").value.trim();
    if (!reviewer) { message("enter your name as reviewer first", true); return; }
    try {
      const r = await api(`/api/videos/${S.vid}/restore`, {revision: rid, reviewer});
      message(`restored ${rid} as revision ${r.id}`);
      await load();
    } catch (e) { message(e.message, true); }
  }

  async function loadRevisions() {
    const d = await api(`/api/videos/${S.vid}`);
    const cur = d.current.revision;
    const items = [el("li", {}, `model (the machine's track) `,
      el("button", {textContent: "Restore", onclick: () => restore("model")}))];
    d.revisions.forEach((r) => {
      const li = el("li", {}, `${r.id} by ${r.reviewer}, ${r.created_at}, ${r.reviewed_spans} of ${r.spans} signs reviewed`
        + (r.restored_from ? `, restored from ${r.restored_from}` : "") + (r.id === cur ? " [rendered]" : "") + " ",
        el("button", {textContent: "Restore", onclick: () => restore(r.id)}));
      items.push(li);
    });
    $("revisions").replaceChildren(...items);
    return d;
  }

  async function load() {
    const d = await loadRevisions();
    S.doc = d.track;
    S.revision = d.revision;
    S.spans = JSON.parse(JSON.stringify(d.track.spans));
    S.sources = (d.track.review && d.track.review.sources) || S.spans.map(() => "model");
    S.newGlosses = new Set((d.track.review && d.track.review.new_glosses) || []);
    S.duration = Math.max(1, d.duration_ms || 0, ...S.spans.map((s) => s.end_ms));
    S.vocab = new Set(d.vocabulary);
    S.low = d.low_confidence;
    $("vocab").replaceChildren(...d.vocabulary.map((v) => el("option", {value: v})));
    $("title").textContent = d.name;
    $("meta").textContent = `${d.status}, ${secs(d.duration_ms)}, ${d.signs} signs, ${d.unclear} unclear`;
    select(-1);
    preview();
  }

  function keys(ev) {
    if (["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName)) {
      if (ev.key === "Enter" && document.activeElement.id === "gloss") actions.apply();
      return;
    }
    const k = ev.key;
    const step = (d) => select(S.sel < 0 ? 0 : Math.max(0, Math.min(S.spans.length - 1, S.sel + d)), true);
    const map = {ArrowRight: () => step(1), n: () => step(1), ArrowLeft: () => step(-1), p: () => step(-1),
      " ": () => { const v = $("player"); v.paused ? v.play() : v.pause(); },
      u: actions.unknown, x: actions.notSign, s: actions.split, m: actions.merge};
    if (map[k]) { ev.preventDefault(); map[k](); }
  }

  async function video() {
    S.vid = location.pathname.split("/").pop();
    const v = $("player");
    v.src = `/media/${S.vid}/source`;
    $("captions").src = `/media/${S.vid}/captions.vtt`;
    v.addEventListener("timeupdate", () => { $("playhead").style.left = (100 * v.currentTime * 1000 / S.duration) + "%"; });
    $("reviewer").value = localStorage.getItem("signbridge-reviewer") || "";
    $("gloss").addEventListener("input", showNew);
    $("apply").onclick = actions.apply; $("unknown").onclick = actions.unknown; $("not-sign").onclick = actions.notSign;
    $("split").onclick = actions.split; $("merge").onclick = actions.merge; $("move").onclick = actions.move;
    $("save").onclick = actions.save; $("render").onclick = actions.render;
    document.addEventListener("keydown", keys);
    await load();
  }

  return {index, video};
})();
