// The camera loop: grab a frame a few times per second, POST it as JPEG with a client frame id, show the
// answer (oval green with the result, or red with the reason). Runs until the user leaves the page.
// While an Observe window runs (observe.js) each frame also carries the window's id and its time.
import { observationFields, onFrameAnswer } from "./observe.js";

const FRAMES_PER_SECOND = 3;
const FRAME_WIDTH = 480;
const RETRIES = 2;
const REASONS = {
  no_face: "No face in the oval",
  several_faces: "More than one face: only the baby in the oval",
  face_too_small: "Move closer: the face is too small",
  too_dark: "Too dark: add light",
  too_blurred: "Blurred: hold the phone still",
  phototherapy_light: "Phototherapy light: this model was not trained under the blue lamps",
  infrared: "Infrared night image: this model was not trained on night-camera images",
  eyes_hidden: "Eyes hidden (shields, hand or tape): eye items not assessable",
  mouth_covered: "Mouth covered (CPAP, pacifier or hand): mouth items not assessable",
};

const viewer = document.getElementById("viewer");
const video = document.getElementById("video");
const oval = document.getElementById("oval");
const statusText = document.getElementById("status");
const labelText = document.getElementById("label");
const confidenceText = document.getElementById("confidence");
const timingText = document.getElementById("timing");
const savedText = document.getElementById("saved");
const facing = document.getElementById("facing");
const nfcsBox = document.getElementById("nfcs");
const nfcsScore = document.getElementById("nfcs-score");
const nfcsList = document.getElementById("nfcs-list");
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const canvas = document.createElement("canvas");

let stream = null;
let running = true;
let savedCount = 0;
// Frames keep the login alive, so an unattended camera pauses after the inactivity time; a tap resumes.
const idleMs = Number(viewer.dataset.idleMs) || 15 * 60_000;
let lastTouch = performance.now();
let paused = false;

function newFrameId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function setOval(state) {
  oval.setAttribute("class", `oval-${state}`);
  statusText.className = state === "no" ? "status txt-red" : "status";
}

function stopCamera() {
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null;
}

async function openCamera(mode) {
  stopCamera();
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new Error("This browser cannot open the camera here (it needs HTTPS or localhost).");
  }
  stream = await navigator.mediaDevices.getUserMedia({
    video: { facingMode: { ideal: mode }, width: { ideal: 640 }, height: { ideal: 480 } },
    audio: false,
  });
  video.srcObject = stream;
  video.classList.toggle("mirror", mode === "user");
  await video.play();
}

function grabFrame() {
  const w = video.videoWidth;
  const h = video.videoHeight;
  if (!w || !h) return Promise.resolve(null);
  const scale = Math.min(1, FRAME_WIDTH / w);
  canvas.width = Math.round(w * scale);
  canvas.height = Math.round(h * scale);
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
}

async function postFrame(blob, frameId, fields) {
  const body = new FormData();
  body.append("frame", blob, "frame.jpg");
  body.append("frame_id", frameId);
  body.append("client_token", viewer.dataset.clientToken);
  for (const [name, value] of Object.entries(fields || {})) body.append(name, value);
  let lastError = null;
  for (let attempt = 0; attempt <= RETRIES; attempt++) {
    try {
      // The same frame id on a retry: the server answers once, never saves twice.
      return await fetch(viewer.dataset.framesUrl, {
        method: "POST", body, credentials: "same-origin", headers: { "X-CSRF-Token": csrf },
      });
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 300 * (attempt + 1)));
    }
  }
  throw lastError;
}

// The NFCS checklist of an NFCS model: ticked when present, greyed when its region could not be read.
function showNfcs(nfcs) {
  if (!nfcs) {
    nfcsBox.hidden = true;
    return;
  }
  nfcsBox.hidden = false;
  const total = nfcs.scorable
    ? `${nfcs.version.toUpperCase()} ${nfcs.score} of ${nfcs.items}`
    : `${nfcs.version.toUpperCase()} ${nfcs.score} (${nfcs.items_read} of ${nfcs.items} items readable: not scorable)`;
  nfcsScore.textContent = total;
  nfcsList.replaceChildren(
    ...nfcs.actions.map((action) => {
      const item = document.createElement("li");
      const state = !action.assessable ? "unreadable" : action.present ? "present" : "absent";
      item.className = `check-${state}`;
      item.dataset.action = action.name;
      const mark = state === "present" ? "\u2611" : state === "absent" ? "\u2610" : "\u2012";
      item.textContent = `${mark} ${action.name.replaceAll("_", " ")}`;
      return item;
    }),
  );
}

function showResult(res) {
  if (res.status === "ok") {
    setOval("ok");
    statusText.textContent = "Face found";
    const pain = res.label === "pain";
    labelText.textContent = pain ? "Pain" : "No pain";
    labelText.className = `label ${pain ? "txt-red" : "txt-green"}`;
    confidenceText.textContent = `Confidence ${Math.round(res.confidence * 100)}%`;
    showNfcs(res.nfcs);
  } else {
    showNfcs(null);
    setOval("no");
    statusText.textContent = REASONS[res.reason] || "No assessment possible";
    labelText.textContent = "";
    confidenceText.textContent = "";
  }
  const ms = `${Math.round(res.processing_ms)} ms`;
  timingText.textContent = res.status === "ok" ? `· ${ms}` : `(checked in ${ms})`;
  if (res.saved && !res.replay) {
    savedCount += 1;
    savedText.textContent = `${savedCount} picture${savedCount === 1 ? "" : "s"} saved in this session`;
  }
}

async function handleFailure(response) {
  let detail = `error ${response.status}`;
  try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
  if (response.status === 401) {
    running = false;
    window.location.assign("/login?expired=1");
  } else if (response.status === 409 || response.status === 404) {
    running = false;
    stopCamera();
    setOval("no");
    statusText.textContent = detail;
  } else {
    setOval("no");
    statusText.textContent = detail;
  }
}

function pauseIfIdle() {
  if (!paused && performance.now() - lastTouch > idleMs) {
    paused = true;
    setOval("wait");
    statusText.textContent = "Paused: nobody touched the screen for a while. Tap to continue.";
    labelText.textContent = "";
    confidenceText.textContent = "";
  }
  return paused;
}

function touched() {
  lastTouch = performance.now();
  if (paused) {
    paused = false;
    statusText.textContent = "Point the camera at the baby's face";
  }
}

async function loop() {
  while (running) {
    const started = performance.now();
    if (document.visibilityState === "visible" && stream && !pauseIfIdle()) {
      try {
        const capturedAt = performance.now();
        const blob = await grabFrame();
        if (blob) {
          const fields = observationFields(capturedAt);
          const response = await postFrame(blob, newFrameId(), fields);
          if (response.ok) {
            const res = await response.json();
            showResult(res);
            onFrameAnswer(res, fields);
          } else await handleFailure(response);
        }
      } catch (err) {
        setOval("no");
        statusText.textContent = "Connection lost: retrying…";
      }
    }
    const wait = 1000 / FRAMES_PER_SECOND - (performance.now() - started);
    await new Promise((r) => setTimeout(r, Math.max(50, wait)));
  }
}

async function start(mode) {
  try {
    await openCamera(mode);
    statusText.textContent = "Point the camera at the baby's face";
    setOval("wait");
  } catch (err) {
    setOval("no");
    statusText.textContent = `Camera unavailable: ${err.message || err}`;
  }
}

facing.addEventListener("change", () => start(facing.value));
for (const kind of ["pointerdown", "keydown"]) document.addEventListener(kind, touched);
window.addEventListener("pagehide", () => { running = false; stopCamera(); });
start(facing.value).then(loop);
