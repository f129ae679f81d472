// The wire contract's limits (docs/protocol.md), checked in the page so a person sees the problem
// before the server refuses it. The server checks again: these are for people, not for trust.

export const USER_NAME_MAX = 32;
export const CHAT_MAX = 1000;
export const USER_IMAGE_MAX_BYTES = 64 * 1024;

// The server counts characters as code points (Python len), not UTF-16 units as String#length does.
export function codePointLength(text) {
  return [...text].length;
}

// Control and format characters (Unicode Cc, Cf) are refused by the server in names.
const CONTROL = /[\p{Cc}\p{Cf}]/u;

/** Returns an error message a person can act on, or "" when the name is acceptable. */
export function validateUserName(raw) {
  const name = String(raw ?? "").trim();
  if (name.length === 0) return "Please enter a name.";
  if (codePointLength(name) > USER_NAME_MAX) {
    return `Your name can be at most ${USER_NAME_MAX} characters.`;
  }
  if (CONTROL.test(name)) return "Your name contains characters that cannot be shown.";
  return "";
}

export function validateChatMessage(raw) {
  const text = String(raw ?? "");
  if (text.trim().length === 0) return "Type a message first.";
  if (codePointLength(text) > CHAT_MAX) return `Messages can be at most ${CHAT_MAX} characters.`;
  return "";
}

// Only data-URL images are ever put into an <img>: a partner's picture comes from another person.
export function isSafeImageUrl(value) {
  return typeof value === "string" && /^data:image\/(png|jpeg|webp);base64,/.test(value);
}
