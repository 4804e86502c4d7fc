/**
 * Text that is safe on a terminal. Data from the network (DNS TXT strings, a chat line, a server's reply,
 * a name in an error message) may hold escape sequences that move the cursor, rewrite the screen or hide
 * what follows; printed raw they are a terminal injection. Every text output escapes them; JSON output stays
 * exact (JSON escapes control characters itself).
 *
 * @module
 */

// C0 controls, DEL and the C1 controls (U+0080..U+009F, which some terminals treat as escapes).
// biome-ignore lint/suspicious/noControlCharactersInRegex: escaping control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
// Everything above, but tab kept (it is harmless and common in text).
// biome-ignore lint/suspicious/noControlCharactersInRegex: escaping control characters is the point
const CONTROL_BUT_TAB = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g;

// The escapes, made once: a block of 64 KiB of control characters then costs no string per character.
const DECIMAL = Array.from({ length: 0xa0 }, (_, i) => `\\${String(i).padStart(3, '0')}`);
const HEX = Array.from({ length: 0xa0 }, (_, i) => `\\x${i.toString(16).padStart(2, '0')}`);

/**
 * Escape control characters the way dig presents them: a backslash and the three-digit decimal code
 * (`ESC` → `\027`, `CR` → `\013`, `NUL` → `\000`). A backslash itself stays as it is.
 *
 * @param text - any text
 * @returns the text with every C0/C1 control character and DEL escaped
 * @example
 * ```ts
 * escapeControl('a\u001b[2Jb'); // 'a\\027[2Jb'
 * ```
 */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, (c) => DECIMAL[c.charCodeAt(0)] as string);
}

/**
 * Readable text for bytes: UTF-8, with control characters other than tab escaped as `\xNN`.
 *
 * @param data - the bytes
 * @returns printable text
 * @example
 * ```ts
 * printable(Buffer.from('a\u0000b')); // 'a\\x00b'
 * ```
 */
export function printable(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    .toString('utf8')
    .replace(CONTROL_BUT_TAB, (c) => HEX[c.charCodeAt(0)] as string);
}

/**
 * A message as one safe line for a terminal: trimmed, with every control character (newlines included)
 * escaped, so a name holding a newline or an escape sequence can neither cut the message short nor reach the
 * terminal raw.
 *
 * @param text - a message
 * @returns one safe line
 * @example
 * ```ts
 * oneLine('bad name\u001b[2J\nmore'); // 'bad name\\027[2J\\010more'
 * ```
 */
export function oneLine(text: string): string {
  return escapeControl(text.trim());
}
