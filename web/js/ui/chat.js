// The call's chat: a list of messages and an input. Own messages come from the ack, since the
// server does not echo them.
import { CHAT_MAX } from "../limits.js";
import { byId, renderOnChange, setText } from "./dom.js";

const TIME = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

function messageItem(entry) {
  const item = document.createElement("li");
  item.className = entry.own ? "chat-own" : "chat-peer";
  const who = document.createElement("span");
  who.className = "chat-who";
  who.textContent = entry.own ? "You" : entry.userName;
  const time = document.createElement("time");
  const when = new Date(entry.timestamp);
  time.dateTime = when.toISOString();
  time.textContent = TIME.format(when);
  const text = document.createElement("p");
  text.className = "chat-text";
  text.textContent = entry.message;
  item.append(who, time, text);
  return item;
}

export function mountChat({ store, app }) {
  const el = {
    list: byId("chat-list"),
    form: byId("chat-form"),
    input: byId("chat-input"),
    send: byId("btn-send"),
    error: byId("chat-error"),
  };
  el.input.maxLength = CHAT_MAX;

  el.form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = el.input.value;
    el.send.disabled = true;
    try {
      if (await app.sendChat(text)) el.input.value = "";
    } finally {
      el.send.disabled = false;
      el.input.focus();
    }
  });

  let shown = [];
  renderOnChange(store, (s) => s.chat, (chat) => {
    // Usually messages are only appended: add the new ones; otherwise rebuild the list.
    const isPrefix = shown.length <= chat.messages.length && shown.every((m, i) => m === chat.messages[i]);
    if (!isPrefix) {
      el.list.replaceChildren();
      shown = [];
    }
    for (const entry of chat.messages.slice(shown.length)) el.list.append(messageItem(entry));
    shown = chat.messages;
    el.list.scrollTop = el.list.scrollHeight;
    setText(el.error, chat.error);
  });
  // Open during a 1:1 call or a group room; the section moves into whichever page is shown.
  const isOpen = (s) =>
    ["connecting", "in-call"].includes(s.call.status) ||
    ["connecting", "in-room"].includes(s.room.status);
  renderOnChange(store, isOpen, (open) => {
    el.input.disabled = !open;
    el.send.disabled = !open;
  });
}
