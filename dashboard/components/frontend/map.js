// The Cluster map: a Streamlit custom component drawn on the CPU into a canvas.
// Hand-written for Catalog Explorer (no third-party code, nothing loaded from a CDN).
//
// Why the CPU and not WebGL: without a GPU, Chromium's software WebGL draws 1M points in
// 580-710 ms a frame; a plain loop binning the same points into an ImageData takes
// ~35 ms (docs/MAP.md has the figures). So every frame is rasterised here:
//   - "density" view when more than POINT_LIMIT tracks are in view: each pixel takes the
//     mean colour of its tracks, its opacity grows with their number (log scale);
//   - "points" view otherwise: one 2-5 px dot per track, unclustered drawn first.
// Points arrive once per build as gzip files (float32 x, y and one small integer code per
// colouring, fetched when first used); the Python side sends only small arguments
// (colouring, filter mask, search hits, selection). Values sent back:
//   {color, color_id, select: {id, polygon|null, hide}, click: {id, row}}
//   (ids: a fresh nonce per event, so that picking a colouring picked before still reruns)
// Clicking a cluster or genre in the legend hides (or shows again) its tracks, in the
// browser only; a lasso then sends the hidden codes along (hide: {color, codes}) so that
// the server resolves the same tracks as the ones drawn.
"use strict";

const POINT_LIMIT = 150000;   // more tracks than this in view: density view
const HOVER_PX = 8;           // hover/click reach, in pixels
const MAX_VERTICES = 256;     // a lasso is thinned to this many vertices (as in Python)
const GRID = 256;             // hover index: GRID x GRID cells over the map's bounds
const FADE = 0.82;            // unselected tracks fade this far towards white

const $ = (id) => document.getElementById(id);
const fmt = (v) => Number(v).toLocaleString("en-US");
const S = {                    // everything the map knows
  base: null, meta: null, n: 0, xy: null, codes: {}, loading: {},
  color: null, lut: null, fadeLut: null, noiseCode: -1,
  vis: null, maskRev: null, sel: null, selPoly: null, selRev: null, nSel: 0,
  hits: [], hitsRev: null, clicked: -1, view: null, mode: "lasso",
  grid: null, pix: null, acc: null, text: {}, hover: -1, frame: 0, pointLimit: POINT_LIMIT,
  height: 640, hidden: {},        // colouring -> Uint8Array(labels): 1 = hidden in the legend
};

// ---- Streamlit protocol (components v1, without the npm helper) -------------------------
function post(type, data) {
  window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type }, data), "*");
}
const nonce = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
let sent = { color: null, select: null, click: null };
function sendValue(patch) {
  sent = Object.assign({}, sent, patch);
  post("streamlit:setComponentValue", { value: sent, dataType: "json" });
}
window.addEventListener("message", (ev) => {
  if (ev.data && ev.data.type === "streamlit:render") onArgs(ev.data.args || {});
});
post("streamlit:componentReady", { apiVersion: 1 });

// ---- data -------------------------------------------------------------------------------
async function fetchGz(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Response(r.body.pipeThrough(new DecompressionStream("gzip"))).arrayBuffer();
}

const mark = (name) => { TIMES[name] = Math.round(performance.now()); };
const TIMES = { frame_start: 0 };  // ms since this frame's navigation started (bench)

async function load(base) {
  S.base = base;
  mark("args");
  const r = await fetch(base + "meta.json");
  if (!r.ok) throw new Error(`${base}meta.json: HTTP ${r.status}`);
  S.meta = await r.json();
  S.xy = new Float32Array(await fetchGz(base + "xy.bin.gz"));
  mark("points_fetched");
  S.n = S.meta.n;
  S.pix = new Int32Array(S.n);
  buildGrid();
  mark("index_built");
  const sel = $("color");
  sel.innerHTML = "";
  for (const name of S.meta.color_by) sel.add(new Option(name, name));
  fitTo(S.meta.fit);
}

function prefetch() {             // the other colourings, one at a time, once the map is up
  const todo = S.meta.color_by.filter((c) => !S.codes[c] && !S.loading[c]);
  if (todo.length) channel(todo[0]).then(() => setTimeout(prefetch, 50), () => {});
}

function channel(name) {          // a promise of the codes of one colouring
  if (S.codes[name]) return Promise.resolve(S.codes[name]);
  if (!S.loading[name]) {
    const dtype = S.meta.channels[name].dtype;
    S.loading[name] = fetchGz(`${S.base}c_${encodeURIComponent(name)}.bin.gz`).then((buf) => {
      S.codes[name] = dtype === "uint16" ? new Uint16Array(buf) : new Uint8Array(buf);
      return S.codes[name];
    });
  }
  return S.loading[name];
}

async function textRow(row) {      // hover-card fields of a row, from its chunk file
  const k = Math.floor(row / S.meta.text_chunk);
  if (!S.text[k]) {
    S.text[k] = fetchGz(`${S.base}text/${k}.json.gz`).then(
      (b) => JSON.parse(new TextDecoder().decode(b)),
      () => { delete S.text[k]; return null; });   // not written yet: try again later
  }
  const rows = await S.text[k];
  return rows ? rows[row - k * S.meta.text_chunk] : null;
}

function buildGrid() {             // counting sort of the points into GRID x GRID cells
  const [x0, x1, y0, y1] = S.meta.bounds, n = S.n, xy = S.xy;
  const cw = (x1 - x0) / GRID || 1, ch = (y1 - y0) / GRID || 1;
  const cell = new Uint32Array(n), start = new Uint32Array(GRID * GRID + 1);
  for (let i = 0; i < n; i++) {
    const cx = Math.min(GRID - 1, Math.max(0, Math.floor((xy[2 * i] - x0) / cw)));
    const cy = Math.min(GRID - 1, Math.max(0, Math.floor((xy[2 * i + 1] - y0) / ch)));
    cell[i] = cy * GRID + cx;
    start[cell[i] + 1]++;
  }
  for (let c = 0; c < GRID * GRID; c++) start[c + 1] += start[c];
  const fill = start.slice(0, GRID * GRID), order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[fill[cell[i]]++] = i;
  S.grid = { x0, y0, cw, ch, start, order };
}

// ---- colours ----------------------------------------------------------------------------
function rgb(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}
const pack = (r, g, b) => ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
const fade = (c) => Math.round(c + (255 - c) * FADE);

function makeLuts(name) {          // code -> packed colour (and its faded twin)
  const m = S.meta.channels[name];
  let cols;
  if (m.kind === "category") {
    cols = m.colors.map(rgb);
  } else {
    const stops = S.meta.scale.map(rgb);
    cols = [[215, 215, 215]];      // code 0: value missing
    for (let k = 1; k <= 255; k++) {
      const t = ((k - 1) / 254) * (stops.length - 1), i = Math.min(stops.length - 2, Math.floor(t));
      const f = t - i;
      cols.push([0, 1, 2].map((j) => Math.round(stops[i][j] * (1 - f) + stops[i + 1][j] * f)));
    }
  }
  S.lutRGB = cols;
  S.lut = new Uint32Array(cols.map(([r, g, b]) => pack(r, g, b)));
  S.fadeLut = new Uint32Array(cols.map(([r, g, b]) => pack(fade(r), fade(g), fade(b))));
  S.noiseCode = name === "cluster" && m.ids[0] === -1 ? 0 : -1;
}

async function setColor(name) {
  if (!S.meta || !S.meta.channels[name]) return;
  await channel(name);
  S.color = name;
  $("color").value = name;
  makeLuts(name);
  document.body.dataset.hidden = hiddenCodes().join(",");
  legend();
  draw();
}

// ---- view -------------------------------------------------------------------------------
function size() {
  const plot = $("plot"), w = Math.max(200, plot.clientWidth), h = S.height;
  plot.style.height = `${h}px`;
  $("legend").style.maxHeight = `${h}px`;
  for (const c of [$("base"), $("over")]) {
    if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
  }
  document.body.dataset.width = String(w);
  post("streamlit:setFrameHeight", { height: document.body.scrollHeight + 4 });
}

function scaleFor([x0, x1, y0, y1]) {
  const W = $("base").width, H = $("base").height;
  return 0.95 * Math.min(W / Math.max(x1 - x0, 1e-9), H / Math.max(y1 - y0, 1e-9));
}
function fitTo(b, zoomInOnly) {     // zoomInOnly: never show more than the whole map
  const f = S.meta.fit;
  if (zoomInOnly && scaleFor(b) <= scaleFor(f)) b = f;
  S.view = { cx: (b[0] + b[1]) / 2, cy: (b[2] + b[3]) / 2, s: scaleFor(b) };
}
const toScreen = (x, y) => {
  const W = $("base").width, H = $("base").height, v = S.view;
  return [(x - v.cx) * v.s + W / 2, H / 2 - (y - v.cy) * v.s];
};
const toData = (px, py) => {
  const W = $("base").width, H = $("base").height, v = S.view;
  return [(px - W / 2) / v.s + v.cx, v.cy - (py - H / 2) / v.s];
};

// ---- drawing ----------------------------------------------------------------------------
let pending = false;
function draw() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; render(); overlay(); });
}

function render() {
  if (!S.xy || !S.lut || !S.view) return;
  const t0 = performance.now();
  const cv = $("base"), W = cv.width, H = cv.height, ctx = cv.getContext("2d");
  const n = S.n, xy = S.xy, pix = S.pix, vis = S.vis, v = S.view;
  const ox = W / 2 - v.cx * v.s, oy = H / 2 + v.cy * v.s, s = v.s;
  const codes = S.codes[S.color], hid = hiddenFlags();
  let inView = 0;
  for (let i = 0; i < n; i++) {
    if ((vis && !vis[i]) || (hid && hid[codes[i]])) { pix[i] = -1; continue; }
    const fx = xy[2 * i] * s + ox, fy = oy - xy[2 * i + 1] * s;
    if (fx < 0 || fy < 0 || fx >= W || fy >= H) { pix[i] = -1; continue; }
    pix[i] = (fy | 0) * W + (fx | 0);
    inView++;
  }
  const img = ctx.createImageData(W, H), out = new Uint32Array(img.data.buffer);
  const mode = inView > S.pointLimit ? "density" : "points";
  if (mode === "density") density(out, W * H, codes);
  else points(out, W, H, codes, inView);
  ctx.putImageData(img, 0, 0);
  S.frame++;
  S.inView = inView;
  const ms = performance.now() - t0;
  if (!TIMES.first_frame) {
    mark("first_frame");
    document.body.dataset.times = JSON.stringify(Object.assign({ origin: performance.timeOrigin }, TIMES));
  }
  Object.assign(document.body.dataset, { mode, inview: String(inView), color: S.color,
    frame: String(S.frame), ms: ms.toFixed(1), ready: "1" });
  status(mode, inView);
}

function density(out, P, codes) {  // mean colour per pixel, opacity by log count
  if (!S.acc || S.acc.c.length !== P) {
    S.acc = { r: new Float32Array(P), g: new Float32Array(P), b: new Float32Array(P),
      c: new Uint32Array(P) };
  }
  const { r, g, b, c } = S.acc, pix = S.pix, sel = S.sel, L = S.lutRGB, n = S.n;
  r.fill(0); g.fill(0); b.fill(0); c.fill(0);
  for (let i = 0; i < n; i++) {
    const p = pix[i];
    if (p < 0) continue;
    const col = L[codes[i]];
    if (sel && !sel[i]) {
      r[p] += fade(col[0]); g[p] += fade(col[1]); b[p] += fade(col[2]);
    } else {
      r[p] += col[0]; g[p] += col[1]; b[p] += col[2];
    }
    c[p]++;
  }
  // Opacity scale: log count up to the 98th percentile of occupied pixels (the densest
  // few pixels would otherwise make everything else faint).
  const hist = new Uint32Array(4097);
  let used = 0;
  for (let p = 0; p < P; p++) if (c[p]) { hist[Math.min(4096, c[p])]++; used++; }
  let top = 1;
  for (let k = 1, seen = 0; k <= 4096; k++) { seen += hist[k]; if (seen >= 0.98 * used) { top = Math.max(k, 2); break; } }
  const lm = Math.log1p(top);
  for (let p = 0; p < P; p++) {
    const k = c[p];
    if (!k) { out[p] = 0xffffffff; continue; }
    const a = 0.35 + 0.65 * Math.min(1, Math.log1p(k) / lm);
    out[p] = pack(Math.round(255 - a * (255 - r[p] / k)), Math.round(255 - a * (255 - g[p] / k)),
      Math.round(255 - a * (255 - b[p] / k)));
  }
}

function points(out, W, H, codes, inView) {
  out.fill(0xffffffff);
  const d = inView <= 8000 ? 5 : inView <= 40000 ? 3 : 2, h = d >> 1;
  const pix = S.pix, sel = S.sel, lut = S.lut, fl = S.fadeLut, noise = S.noiseCode, n = S.n;
  const round = d >= 5;
  const dot = (p, col) => {
    const y = (p / W) | 0, x = p - y * W;
    for (let dy = -h; dy < d - h; dy++) {
      const yy = y + dy;
      if (yy < 0 || yy >= H) continue;
      for (let dx = -h; dx < d - h; dx++) {
        if (round && (dx === -h || dx === d - h - 1) && (dy === -h || dy === d - h - 1)) continue;
        const xx = x + dx;
        if (xx >= 0 && xx < W) out[yy * W + xx] = col;
      }
    }
  };
  // Layers: faded (outside the selection), unclustered, the rest.
  if (sel) for (let i = 0; i < n; i++) if (pix[i] >= 0 && !sel[i]) dot(pix[i], fl[codes[i]]);
  for (let layer = 0; layer < 2; layer++) {
    for (let i = 0; i < n; i++) {
      if (pix[i] < 0 || (sel && !sel[i])) continue;
      if ((codes[i] === noise) !== (layer === 0)) continue;
      dot(pix[i], lut[codes[i]]);
    }
  }
}

function overlay(lasso) {          // vector layer: selection outline, hits, hover, click
  const cv = $("over"), ctx = cv.getContext("2d");
  ctx.clearRect(0, 0, cv.width, cv.height);
  if (!S.view) return;
  const path = (pts, close) => {
    ctx.beginPath();
    pts.forEach(([x, y], k) => { const [a, b] = toScreen(x, y); k ? ctx.lineTo(a, b) : ctx.moveTo(a, b); });
    if (close) ctx.closePath();
  };
  if (S.selPoly) {
    path(S.selPoly, true);
    ctx.setLineDash([5, 4]); ctx.strokeStyle = "#31333f"; ctx.lineWidth = 1.2; ctx.stroke();
    ctx.setLineDash([]);
  }
  if (lasso && lasso.length > 1) {
    path(lasso, S.mode === "box");
    ctx.strokeStyle = "#1DB954"; ctx.lineWidth = 1.5; ctx.stroke();
  }
  const ring = (row, r, fill, stroke, w) => {
    if (row < 0 || row >= S.n) return;
    const [a, b] = toScreen(S.xy[2 * row], S.xy[2 * row + 1]);
    ctx.beginPath(); ctx.arc(a, b, r, 0, 2 * Math.PI);
    if (fill) { ctx.fillStyle = fill; ctx.fill(); }
    ctx.strokeStyle = stroke; ctx.lineWidth = w; ctx.stroke();
  };
  for (let k = S.hits.length - 1; k >= 0; k--) ring(S.hits[k], 5, "#e4002b", "#fff", 1.5);
  ring(S.clicked, 8, null, "#111", 2);
  ring(S.hover, 6, null, "#111", 1.5);
  document.body.dataset.hits = `${S.hits.length}:${S.hitsRev || ""}`;
}

function status(mode, inView) {
  const what = mode === "density"
    ? `density view · ${fmt(inView)} in view · zoom in for single tracks`
    : `${fmt(inView)} tracks in view`;
  const sel = S.sel ? ` · ${fmt(S.nSel)} selected` : "";
  $("status").textContent = what + sel;
  $("msg").textContent = "Scroll to zoom · drag to " + (S.mode === "pan" ? "pan" : `draw a ${S.mode}`)
    + (S.mode === "pan" ? "" : " (Shift+drag pans)") + " · click a track for its card";
}

function hiddenFlags() {           // the current colouring's hidden codes, or null
  const h = S.hidden[S.color];
  return h && h.some((v) => v) ? h : null;
}

function hiddenCodes() {
  const h = hiddenFlags();
  return h ? Array.from(h.keys()).filter((k) => h[k]) : [];
}

function toggle(k) {               // a legend entry clicked: hide or show its tracks
  const m = S.meta.channels[S.color];
  if (!S.hidden[S.color]) S.hidden[S.color] = new Uint8Array(m.labels.length);
  S.hidden[S.color][k] ^= 1;       // a selection made already keeps its tracks
  document.body.dataset.hidden = hiddenCodes().join(",");
  legend();
  draw();
}

function legend() {
  const m = S.meta.channels[S.color], el = $("legend");
  el.innerHTML = `<h4>${S.color}</h4>`;
  if (m.kind === "category") {
    const counts = visCounts(S.codes[S.color], m.labels.length), hid = S.hidden[S.color];
    el.insertAdjacentHTML("beforeend", '<div class="hint">click to hide / show</div>');
    m.labels.forEach((label, k) => {
      if (!counts[k]) return;
      const off = Boolean(hid && hid[k]);
      const row = document.createElement("div");
      row.className = off ? "item toggle off" : "item toggle";
      row.tabIndex = 0;
      row.setAttribute("role", "button");
      row.setAttribute("aria-pressed", String(!off));
      row.dataset.code = String(k);
      row.title = off ? "Hidden: click to show these tracks" : "Click to hide these tracks";
      row.innerHTML = `<span class="sw" style="background:${m.colors[k]}"></span>`
        + `<span class="lab"></span><span class="n">${fmt(counts[k])}</span>`;
      row.querySelector(".lab").textContent = label;
      row.addEventListener("click", () => toggle(k));
      row.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); toggle(k); }
      });
      el.appendChild(row);
    });
  } else {
    const stops = S.meta.scale.join(",");
    el.innerHTML += `<div class="bar" style="background:linear-gradient(90deg,${stops})"></div>`
      + `<div class="ends"><span>≤ ${m.lo}</span><span>≥ ${m.hi}</span></div>`
      + `<div class="item"><span class="sw" style="background:#d7d7d7"></span>value missing</div>`;
  }
}

function visCounts(codes, k) {
  const out = new Array(k).fill(0), vis = S.vis;
  for (let i = 0; i < S.n; i++) if (!vis || vis[i]) out[codes[i]]++;
  return out;
}

// ---- selection (same test as dashboard/map_data.py rows_in_polygon) -----------------------
function thin(poly) {
  if (poly.length <= MAX_VERTICES) return poly;
  const out = [];
  for (let k = 0; k < MAX_VERTICES; k++) out.push(poly[Math.floor((k * (poly.length - 1)) / (MAX_VERTICES - 1))]);
  return out;
}

function selectPolygon(poly, hide) {  // Uint8Array mask of the shown points inside poly,
  // leaving out those of the legend entries hidden when it was drawn (hide: {color, codes})
  const n = S.n, xy = S.xy, vis = S.vis, out = new Uint8Array(n);
  let hid = null, codes = null;
  if (hide && S.codes[hide.color]) {
    hid = new Uint8Array(S.meta.channels[hide.color].labels.length);
    for (const k of hide.codes) hid[k] = 1;
    codes = S.codes[hide.color];
  }
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const [x, y] of poly) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  let count = 0;
  for (let i = 0; i < n; i++) {
    if ((vis && !vis[i]) || (hid && hid[codes[i]])) continue;
    const px = xy[2 * i], py = xy[2 * i + 1];
    if (px < x0 || px > x1 || py < y0 || py > y1) continue;
    let inside = false, [xj, yj] = poly[poly.length - 1];
    for (const [xi, yi] of poly) {
      if (yi !== yj && ((yi > py) !== (yj > py)) && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi) inside = !inside;
      xj = xi; yj = yi;
    }
    if (inside) { out[i] = 1; count++; }
  }
  return [out, count];
}

async function setSelection(sel) { // from Python: {rev, polygon[, hide]} | {rev, rows} | null
  if (!sel) { S.sel = null; S.selPoly = null; S.nSel = 0; }
  else if (sel.polygon) {
    if (sel.hide) await channel(sel.hide.color);
    S.selPoly = sel.polygon;
    [S.sel, S.nSel] = selectPolygon(sel.polygon, sel.hide);
  }
  else {
    S.selPoly = null; S.sel = new Uint8Array(S.n);
    for (const r of sel.rows || []) if (r >= 0 && r < S.n) S.sel[r] = 1;
    S.nSel = (sel.rows || []).length;
  }
  document.body.dataset.selected = String(S.nSel);
}

// ---- hover and click --------------------------------------------------------------------
function nearest(px, py) {
  const g = S.grid, [x, y] = toData(px, py), r = HOVER_PX / S.view.s;
  const cx0 = Math.max(0, Math.floor((x - r - g.x0) / g.cw)), cx1 = Math.min(GRID - 1, Math.floor((x + r - g.x0) / g.cw));
  const cy0 = Math.max(0, Math.floor((y - r - g.y0) / g.ch)), cy1 = Math.min(GRID - 1, Math.floor((y + r - g.y0) / g.ch));
  const hid = hiddenFlags(), codes = hid ? S.codes[S.color] : null;
  let best = -1, bd = r * r;
  for (let cy = cy0; cy <= cy1; cy++) {
    for (let cx = cx0; cx <= cx1; cx++) {
      const c = cy * GRID + cx;
      for (let k = g.start[c]; k < g.start[c + 1]; k++) {
        const i = g.order[k];
        if ((S.vis && !S.vis[i]) || (hid && hid[codes[i]])) continue;
        const dx = S.xy[2 * i] - x, dy = S.xy[2 * i + 1] - y, d = dx * dx + dy * dy;
        if (d <= bd) { bd = d; best = i; }
      }
    }
  }
  return best;
}

async function showCard(row, px, py) {
  const card = $("card");
  S.hover = row;
  overlay();
  if (row < 0) { card.hidden = true; delete document.body.dataset.hover; return; }
  card.hidden = false;
  card.style.left = `${Math.min(px + 14, $("base").width - 250)}px`;
  card.style.top = `${Math.max(4, py - 10)}px`;
  card.textContent = "loading…";
  const t = await textRow(row);
  if (S.hover !== row) return;
  if (!t) { card.textContent = "(track details are still being written; hover again)"; return; }
  const [title, artist, genre, year, energy, dance, valence, tempo, pop, code] = t;
  const cm = S.meta.channels.cluster;
  const num = (v, d) => (v === null ? "–" : Number(v).toFixed(d));
  card.innerHTML = "<b></b><div class=sub></div><div class=cl></div><div class=ft></div>";
  card.querySelector("b").textContent = title;
  card.querySelector(".sub").textContent = `${artist} · ${genre}${year === null ? "" : ` · ${year}`}`;
  card.querySelector(".cl").textContent = `cluster: ${cm.labels[code]}`;
  card.querySelector(".ft").textContent = `energy ${num(energy, 2)} · danceability ${num(dance, 2)}`
    + ` · valence ${num(valence, 2)} · tempo ${num(tempo, 0)} BPM · popularity ${num(pop, 0)}`;
  document.body.dataset.hover = String(row);
}

// ---- pointer ----------------------------------------------------------------------------
let drag = null;
function pos(ev) { const r = $("over").getBoundingClientRect(); return [ev.clientX - r.left, ev.clientY - r.top]; }

function onDown(ev) {
  if (!S.view) return;
  const [px, py] = pos(ev);
  const pan = S.mode === "pan" || ev.shiftKey || ev.button !== 0;
  drag = { px, py, t: performance.now(), pan, view: Object.assign({}, S.view), pts: [toData(px, py)], moved: false };
  $("over").setPointerCapture(ev.pointerId);
  $("card").hidden = true;
}

function onMove(ev) {
  const [px, py] = pos(ev);
  if (!drag) {
    if (!S.grid || !S.view) return;
    if (S.hoverTimer) cancelAnimationFrame(S.hoverTimer);
    S.hoverTimer = requestAnimationFrame(() => { const r = nearest(px, py); if (r !== S.hover) showCard(r, px, py); });
    return;
  }
  if (Math.hypot(px - drag.px, py - drag.py) > 3) drag.moved = true;
  if (drag.pan) {
    S.view.cx = drag.view.cx - (px - drag.px) / S.view.s;
    S.view.cy = drag.view.cy + (py - drag.py) / S.view.s;
    draw();
  } else if (S.mode === "box") {
    const [a, b] = drag.pts[0], [c, d] = toData(px, py);
    drag.pts = [[a, b], [c, b], [c, d], [a, d]];
    overlay(drag.pts);
  } else {
    const last = toScreen(...drag.pts[drag.pts.length - 1]);
    if (Math.hypot(px - last[0], py - last[1]) >= 3) drag.pts.push(toData(px, py));
    overlay(drag.pts);
  }
}

function onUp(ev) {
  if (!drag) return;
  const d = drag;
  drag = null;
  const [px, py] = pos(ev);
  if (!d.moved) {                  // a click: the nearest track's card (in Python)
    const row = nearest(px, py);
    if (row >= 0) { S.clicked = row; overlay(); sendValue({ click: { id: nonce(), row } }); }
    return;
  }
  if (d.pan || d.pts.length < 3) { overlay(); return; }
  const poly = thin(d.pts).map(([x, y]) => [x, y]);
  const codes = hiddenCodes(), hide = codes.length ? { color: S.color, codes } : null;
  S.selPoly = poly;
  [S.sel, S.nSel] = selectPolygon(poly, hide);
  document.body.dataset.selected = String(S.nSel);
  draw();
  sendValue({ select: { id: nonce(), polygon: poly, count: S.nSel, hide } });
}

function onWheel(ev) {
  if (!S.view) return;
  ev.preventDefault();
  const [px, py] = pos(ev), [x, y] = toData(px, py);
  const f = Math.exp(-ev.deltaY * 0.0015);
  S.view.s *= f;
  const [x2, y2] = toData(px, py);
  S.view.cx += x - x2; S.view.cy += y - y2;
  draw();
}

function setMode(mode) {
  S.mode = mode;
  document.querySelectorAll("[data-mode]").forEach((b) => b.classList.toggle("on", b.dataset.mode === mode));
  $("over").classList.toggle("pan", mode === "pan");
  if (S.inView !== undefined) status(document.body.dataset.mode, S.inView);
}

// ---- arguments from Python --------------------------------------------------------------
function decodeMask(b64, n) {
  const bin = atob(b64), out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (bin.charCodeAt(i >> 3) >> (i & 7)) & 1;
  return out;
}

let queue = Promise.resolve();
function onArgs(args) {            // serialised: a load finishes before the next args apply
  queue = queue.then(() => apply(args)).catch((e) => {
    $("msg").textContent = `The map could not load: ${e.message}`;
    document.body.dataset.error = e.message;
  });
}

async function apply(a) {
  S.height = a.height || S.height;
  if (a.point_limit) S.pointLimit = a.point_limit;
  size();
  if (a.base !== S.base) {
    $("msg").textContent = "Loading the map…";
    await load(a.base);
    S.color = null; S.maskRev = null; S.selRev = null; S.hitsRev = null;
  }
  if (a.mask_rev !== S.maskRev) {
    S.maskRev = a.mask_rev;
    S.vis = a.mask ? decodeMask(a.mask, S.n) : null;
    S.selRev = null;               // re-evaluate the selection among the shown tracks
    if (S.color) legend();
  }
  const selRev = a.selection ? a.selection.rev : null;
  if (selRev !== S.selRev) { S.selRev = selRev; await setSelection(a.selection); }
  const hitsRev = a.hits ? a.hits.rev : null;
  if (hitsRev !== S.hitsRev) {
    S.hitsRev = hitsRev;
    S.hits = a.hits ? a.hits.rows : [];
    document.body.dataset.hitsAt = String(performance.timeOrigin + performance.now());
    if (a.hits && a.hits.focus) fitTo(a.hits.focus, true);
  }
  S.clicked = a.clicked === undefined || a.clicked === null ? -1 : a.clicked;
  if (a.color !== S.lastArgColor || !S.color) {
    S.lastArgColor = a.color;
    if (a.color !== S.color) await setColor(a.color);
  }
  draw();
  if (!S.prefetched) { S.prefetched = true; setTimeout(prefetch, 300); }
}

// ---- wiring -----------------------------------------------------------------------------
$("color").addEventListener("change", async (ev) => {
  const name = ev.target.value;
  await setColor(name);
  sendValue({ color: name, color_id: nonce() });
});
document.querySelectorAll("[data-mode]").forEach((b) => b.addEventListener("click", () => setMode(b.dataset.mode)));
$("reset").addEventListener("click", () => { if (S.meta) { fitTo(S.meta.fit); draw(); } });
$("clear").addEventListener("click", () => {
  setSelection(null); draw();
  sendValue({ select: { id: nonce(), polygon: null, count: 0 } });
});
const over = $("over");
over.addEventListener("pointerdown", onDown);
over.addEventListener("pointermove", onMove);
over.addEventListener("pointerup", onUp);
over.addEventListener("pointerleave", () => { if (!drag && S.hover >= 0) showCard(-1); });
over.addEventListener("wheel", onWheel, { passive: false });
over.addEventListener("contextmenu", (ev) => ev.preventDefault());
window.addEventListener("resize", () => { size(); draw(); });
setMode("lasso");
window.__map = S;                  // for the browser tests and the bench
