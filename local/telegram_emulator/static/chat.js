// The chat page: sends what the user picks through the control API and renders what the bot
// sent to this chat by polling /emulator/chats/<id>/messages (no page reload, no framework).
"use strict";

const POLL_MS = 1000;
const $ = (id) => document.getElementById(id);
const messagesEl = $("messages");
const statusEl = $("status");
let chatId = $("chat-id").value;
let rendered = 0; // how many of the bot's messages for this chat are on screen

function time(date) {
  const d = date ? new Date(date * 1000) : new Date();
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function bubble(kind, date) {
  const el = document.createElement("div");
  el.className = `msg ${kind}`;
  const stamp = document.createElement("span");
  stamp.className = "time";
  stamp.textContent = time(date);
  el.append(stamp);
  messagesEl.append(el);
  $("hint")?.remove();
  return el;
}

function addPart(el, tag, cls, setup) {
  const part = document.createElement(tag);
  part.className = cls;
  setup(part);
  el.insertBefore(part, el.querySelector(".time"));
  return part;
}

function scrollDown() {
  messagesEl.scrollTop = messagesEl.scrollHeight;
}

function notice(text) {
  addPart(bubble("notice"), "div", "text", (p) => { p.textContent = text; });
  scrollDown();
}

function setStatus(text, isError) {
  statusEl.textContent = text;
  statusEl.classList.toggle("error", Boolean(isError));
}

// A document links to its file; when the file is an image it is shown inside the link.
function addDocument(el, url) {
  addPart(el, "a", "document", (link) => {
    link.href = url;
    link.target = "_blank";
    link.rel = "noopener";
    const img = document.createElement("img");
    img.className = "photo";
    img.alt = "document from the bot";
    img.addEventListener("load", scrollDown);
    img.addEventListener("error", () => { link.replaceChildren("📄 Document (open)"); });
    img.src = url;
    link.append(img);
  });
}

function renderBot(message) {
  const el = bubble("bot", message.date);
  if (message.photo_url || message.document_url) {
    if (message.photo_url) {
      addPart(el, "img", "photo", (img) => {
        img.src = message.photo_url;
        img.alt = "photo from the bot";
        img.addEventListener("load", scrollDown);
      });
    } else {
      addDocument(el, message.document_url);
    }
    if (message.caption) addPart(el, "div", "caption", (p) => { p.textContent = message.caption; });
  } else {
    addPart(el, "div", "text", (p) => { p.textContent = message.text ?? ""; });
  }
}

async function poll() {
  const id = chatId;
  try {
    const response = await fetch(`/emulator/chats/${encodeURIComponent(id)}/messages`);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const list = await response.json();
    if (id !== chatId) return; // the chat changed while we waited
    if (list.length < rendered) rendered = 0; // the emulator was reset
    for (const message of list.slice(rendered)) renderBot(message);
    if (list.length > rendered) scrollDown();
    rendered = list.length;
    if (statusEl.classList.contains("error")) setStatus("bot · emulated Telegram");
  } catch (err) {
    setStatus(`emulator unreachable (${err.message})`, true);
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

function explain(result) {
  if (result.webhook_status === null || result.webhook_status === undefined) {
    notice(`Not delivered: ${result.webhook_error || "no webhook"} — is polybot running?`);
  } else if (result.webhook_status >= 300) {
    notice(`The bot's webhook answered HTTP ${result.webhook_status}.`);
  }
}

async function post(url, body, contentType) {
  try {
    const response = await fetch(url, {
      method: "POST", body, headers: { "Content-Type": contentType },
    });
    const result = await response.json();
    if (!response.ok) notice(`Not sent: ${result.error || response.status}`);
    else explain(result);
  } catch (err) {
    notice(`Not sent: ${err.message}`);
  }
}

function sendFile(file) {
  if (!file) return;
  const base = `/emulator/chats/${encodeURIComponent(chatId)}`;
  const el = bubble("user");
  if (file.type.startsWith("image/")) {
    addPart(el, "img", "photo", (img) => {
      img.src = URL.createObjectURL(file);
      img.alt = file.name;
      img.addEventListener("load", scrollDown);
    });
    post(`${base}/photo`, file, file.type);
  } else {
    addPart(el, "div", "text", (p) => { p.textContent = `Document: ${file.name}`; });
    const query = new URLSearchParams({ filename: file.name });
    post(`${base}/document?${query}`, file, file.type || "application/octet-stream");
  }
  scrollDown();
}

$("photo-input").addEventListener("change", (event) => {
  sendFile(event.target.files[0]);
  event.target.value = ""; // allow sending the same file again
});

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("text-input");
  const text = input.value.trim();
  if (!text) return;
  addPart(bubble("user"), "div", "text", (p) => { p.textContent = text; });
  scrollDown();
  input.value = "";
  post(`/emulator/chats/${encodeURIComponent(chatId)}/text`, JSON.stringify({ text }),
    "application/json");
});

$("chat-id").addEventListener("change", (event) => {
  const value = event.target.value.trim();
  if (!/^-?\d+$/.test(value)) { event.target.value = chatId; return; }
  chatId = value;
  rendered = 0;
  messagesEl.replaceChildren();
});

// Drag and drop anywhere on the page.
const overlay = $("drop-overlay");
let dragDepth = 0;
document.addEventListener("dragenter", (e) => { e.preventDefault(); dragDepth++; overlay.hidden = false; });
document.addEventListener("dragleave", () => { if (--dragDepth <= 0) { dragDepth = 0; overlay.hidden = true; } });
document.addEventListener("dragover", (e) => e.preventDefault());
document.addEventListener("drop", (e) => {
  e.preventDefault();
  dragDepth = 0;
  overlay.hidden = true;
  sendFile(e.dataTransfer.files[0]);
});

poll();
