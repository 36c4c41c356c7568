// Search as you type on the start page: POST the typed text (never in a URL), list matching babies.
const input = document.getElementById("baby-name");
const list = document.getElementById("baby-list");
const title = document.getElementById("list-title");
const duplicate = document.getElementById("same-name");
const csrf = document.querySelector('meta[name="csrf-token"]').content;
let pending = null;

function babyItem(baby) {
  const li = document.createElement("li");
  const form = document.createElement("form");
  form.method = "post";
  form.action = "/assessments";
  for (const [name, value] of [["csrf_token", csrf], ["baby_id", baby.id]]) {
    const hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = name;
    hidden.value = value;
    form.append(hidden);
  }
  const button = document.createElement("button");
  button.type = "submit";
  button.className = "choice";
  button.textContent = baby.name; // textContent: a name is never parsed as HTML
  const second = document.createElement("span");
  second.className = "identifier";
  second.textContent = ` · ${baby.identifier || "no bed/record no."} · ${baby.unit}`;
  button.append(second);
  form.append(button);
  li.append(form);
  return li;
}

async function search(q) {
  const response = await fetch("/api/babies/search", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify({ q }),
  });
  if (!response.ok) return;
  const babies = await response.json();
  title.textContent = q ? "Existing babies matching the name" : "Recent babies";
  list.replaceChildren(...babies.map(babyItem));
  // The same name already exists: most likely the same baby, so point at the list before a duplicate is made.
  duplicate.hidden = !babies.some((b) => b.name.toLowerCase() === q.toLowerCase());
  if (!babies.length) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = "No existing baby with this name: start with a new baby.";
    list.append(li);
  }
}

input.addEventListener("input", () => {
  clearTimeout(pending);
  pending = setTimeout(() => search(input.value.trim()), 200);
});
