// Observe mode on the camera screen: a window of an instrument (or the baby's baseline) recorded on the
// server from the camera's own frames, a countdown and a live timeline fed by the frames' answers; at the
// end the server proposes the facial items and the page where the nurse decides each one opens.
const box = document.getElementById("observe");
const viewer = document.getElementById("viewer");
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const $ = (id) => document.getElementById(id);
const STRIP = 8;
const GAP = 2;

let current = null; // { id, kind, startedAt, windowS, reads, points, ending }
let ticker = null;

function say(text, isError = false) {
  const message = $("observe-message");
  message.textContent = text;
  message.className = `observe-message${isError ? " error" : ""}`;
}

function busy(on) {
  for (const id of ["observe-baseline", "observe-start", "observe-instrument"]) $(id).disabled = on;
  $("observe-with-baseline").disabled = on || $("observe-with-baseline").dataset.usable === "0";
  $("observe-run").hidden = !on;
}

async function detail(response) {
  try { return (await response.json()).detail || `error ${response.status}`; } catch (_) { return `error ${response.status}`; }
}

async function postJson(url, body) {
  return fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRF-Token": csrf, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

// The frame fields that put a frame into the running window: its time by this page's clock.
export function observationFields(capturedAt) {
  if (!current || current.ending) return null;
  const t = (capturedAt - current.startedAt) / 1000;
  if (t < 0 || t >= current.windowS) return null;
  return { observation_id: current.id, observation_t: t.toFixed(3) };
}

export function onFrameAnswer(res, fields) {
  if (!current || !fields || fields.observation_id !== current.id) return;
  const face = res.status === "ok" && Boolean(res.nfcs);
  const p = {};
  if (face) for (const a of res.nfcs.actions) p[a.name] = a.assessable ? a.probability : null;
  current.points.push({ t: Number(fields.observation_t), face, p });
  draw();
  if (res.observation && res.observation.done) finish();
}

function draw() {
  const canvas = $("observe-timeline");
  const rows = current ? current.reads.length + 1 : 1;
  canvas.height = rows * (STRIP + GAP);
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = "#f1f3f4";
  for (let r = 0; r < rows; r++) ctx.fillRect(0, r * (STRIP + GAP), canvas.width, STRIP);
  if (!current) return;
  const x = (t) => Math.round((t / current.windowS) * (canvas.width - 2));
  for (const point of current.points) {
    ctx.fillStyle = point.face ? "#2e7d32" : "#c62828"; // first strip: a face read or not
    ctx.fillRect(x(point.t), 0, 2, STRIP);
    current.reads.forEach((action, k) => {
      const top = (k + 1) * (STRIP + GAP);
      const p = point.face ? point.p[action] : undefined;
      if (p === undefined || p === null) {
        ctx.fillStyle = "#bdbdbd"; // not read: a gap, never "absent"
        ctx.fillRect(x(point.t), top + STRIP - 2, 2, 2);
        return;
      }
      const h = Math.max(1, Math.round(p * STRIP));
      ctx.fillStyle = p >= 0.5 ? "#c62828" : "#1565c0";
      ctx.fillRect(x(point.t), top + STRIP - h, 2, h);
    });
  }
}

function countdown() {
  if (!current) return;
  const left = current.windowS - (performance.now() - current.startedAt) / 1000;
  $("observe-countdown").textContent = `${Math.max(0, Math.ceil(left))} s`;
  if (left <= 0) finish();
}

function stop() {
  if (ticker) clearInterval(ticker);
  ticker = null;
  current = null;
  busy(false);
}

async function begin(kind) {
  const select = $("observe-instrument");
  const option = select.options[select.selectedIndex];
  const body = { kind, client_token: viewer.dataset.clientToken };
  if (kind === "observation") {
    body.instrument = select.value;
    body.with_baseline = $("observe-with-baseline").checked;
  }
  say("");
  busy(true);
  const response = await postJson(box.dataset.startUrl, body);
  if (!response.ok) {
    busy(false);
    say(await detail(response), true);
    return;
  }
  const started = await response.json();
  const reads = kind === "baseline" ? [] : (option.dataset.reads || "").split(",").filter(Boolean);
  current = { id: started.id, kind, startedAt: performance.now(), windowS: started.window_s, reads, points: [], ending: false };
  $("observe-what").textContent = kind === "baseline" ? "Baseline: keep the baby settled," : `${started.title}:`;
  draw();
  countdown();
  ticker = setInterval(countdown, 200);
}

async function finish(retried = false) {
  if (!current || (current.ending && !retried)) return;
  current.ending = true;
  $("observe-countdown").textContent = "scoring…";
  const response = await postJson(box.dataset.endUrl.replace("{id}", current.id));
  if (response.status === 409 && !retried) {
    setTimeout(() => finish(true), 1200); // the server's clock says a moment more
    return;
  }
  const kind = current.kind;
  if (!response.ok) {
    stop();
    say(await detail(response), true);
    return;
  }
  const done = await response.json();
  if (kind === "observation") {
    window.location.assign(done.review_url);
    return;
  }
  stop();
  say(done.message || "Baseline recorded.");
  $("observe-baseline-state").textContent = `${done.message} It is used from now on when you tick the box.`;
  $("observe-baseline-state").className = "small";
  $("observe-with-baseline").dataset.usable = "1";
  $("observe-with-baseline").disabled = false;
}

if (box && $("observe-start")) {
  $("observe-with-baseline").dataset.usable = $("observe-with-baseline").disabled ? "0" : "1";
  $("observe-start").addEventListener("click", () => begin("observation"));
  $("observe-baseline").addEventListener("click", () => begin("baseline"));
  $("observe-cancel").addEventListener("click", () => { stop(); say("Window cancelled: nothing was saved."); });
}
