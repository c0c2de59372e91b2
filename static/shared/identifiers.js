// The identifier guard's rules (chat/identifiers.py holds the one that decides what is stored):
// Finnish personal identity codes, payment card numbers and IBANs. The widget uses `kinds` to
// warn before sending; consoles and the widget use `withPlaceholders` to show the markers the
// server stores instead of such numbers. tests/chat/test_identifiers.py runs both on one table.

export const MARK_START = "\uE000";
export const MARK_END = "\uE001";
const MARKER = /\uE000([a-z]{1,8})\uE001/g;

// DDMMYY, century sign (+ - Y X W V U A B C D E F), individual number, check character.
const CENTURY = { "+": 1800, "-": 1900, A: 2000 };
for (const c of "YXWVU") CENTURY[c] = 1900;
for (const c of "BCDEF") CENTURY[c] = 2000;
const CHECK_CHARS = "0123456789ABCDEFHJKLMNPRSTUVWXY";
const PERSONAL_CODE = /(?<![0-9A-Za-z])(\d{2})(\d{2})(\d{2})([-+A-FU-Ya-fu-y])(\d{3})([0-9A-Ya-y])(?![0-9A-Za-z])/g;

function personalCodeValid([, dd, mm, yy, sign, nnn, check]) {
  const year = CENTURY[sign.toUpperCase()] + Number(yy);
  const day = new Date(Date.UTC(year, Number(mm) - 1, Number(dd)));
  if (day.getUTCFullYear() !== year || day.getUTCMonth() !== Number(mm) - 1 || day.getUTCDate() !== Number(dd)) return false;
  if (Number(nnn) < 2) return false;
  return CHECK_CHARS[Number(dd + mm + yy + nnn) % 31] === check.toUpperCase();
}

// 13-19 digits, as one run or in the groups cards print (4-4-4-4[-n[-n]], 4-6-5, 4-6-4), spaces
// or dashes between; not inside a longer number, not after "+".
const CARD = /(?<![\d+])(?<!\d[ -])[1-9](?:\d{12,18}|\d{3}([ -])\d{4}\1\d{4}(?:\1\d{1,4}){1,2}|\d{3}([ -])\d{6}\2\d{4,5})(?![ -]?\d)/g;

export function luhnValid(digits) {
  let total = 0;
  [...digits].reverse().forEach((ch, i) => {
    let n = Number(ch);
    if (i % 2) {
      n *= 2;
      if (n > 9) n -= 9;
    }
    total += n;
  });
  return total % 10 === 0;
}

// IBAN lengths per country (SWIFT IBAN registry), as in chat/identifiers.py.
const IBAN_LENGTHS = {
  AD: 24, AE: 23, AL: 28, AT: 20, AX: 18, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, BY: 28,
  CH: 21, CR: 22, CY: 28, CZ: 24, DE: 22, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FO: 18,
  FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23,
  IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20, LV: 21, MC: 27,
  MD: 24, ME: 22, MK: 19, MR: 27, MT: 31, MU: 30, NL: 18, NO: 15, PK: 24, PL: 28, PS: 29, PT: 25,
  QA: 29, RO: 24, RS: 22, SA: 24, SC: 31, SE: 24, SI: 19, SK: 24, SM: 27, ST: 25, SV: 28, TL: 23,
  TN: 24, TR: 26, UA: 29, VA: 22, VG: 24, XK: 20,
};
const IBAN_START = /(?<![0-9A-Za-z])([A-Za-z]{2})(\d{2})/g;
const ALNUM = /[0-9A-Za-z]/;

export function ibanValid(compact) {
  const iban = compact.toUpperCase();
  if (IBAN_LENGTHS[iban.slice(0, 2)] !== iban.length || !/^[0-9A-Z]+$/.test(iban)) return false;
  let rest = 0;
  for (const ch of iban.slice(4) + iban.slice(0, 4)) {
    for (const d of String(parseInt(ch, 36))) rest = (rest * 10 + Number(d)) % 97;
  }
  return rest === 1;
}

function ibanEnd(text, start) {
  const length = IBAN_LENGTHS[text.slice(start, start + 2).toUpperCase()];
  if (!length) return null;
  let compact = "";
  let i = start;
  while (compact.length < length && i < text.length) {
    if (ALNUM.test(text[i])) compact += text[i++];
    else if (text[i] === " " && compact && i + 1 < text.length && ALNUM.test(text[i + 1])) i++;
    else break;
  }
  if (compact.length !== length || (i < text.length && ALNUM.test(text[i]))) return null;
  return ibanValid(compact) ? i : null;
}

// The identifiers in `text` as [start, end, kind], in order, not overlapping.
export function find(text) {
  const found = [];
  for (const m of text.matchAll(PERSONAL_CODE)) if (personalCodeValid(m)) found.push([m.index, m.index + m[0].length, "pic"]);
  for (const m of text.matchAll(CARD)) if (luhnValid(m[0].replace(/[ -]/g, ""))) found.push([m.index, m.index + m[0].length, "card"]);
  for (const m of text.matchAll(IBAN_START)) {
    const end = ibanEnd(text, m.index);
    if (end !== null) found.push([m.index, end, "iban"]);
  }
  found.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const kept = [];
  for (const span of found) if (!kept.length || span[0] >= kept[kept.length - 1][1]) kept.push(span);
  return kept;
}

// Which kinds of identifier `text` holds, each once, in order of appearance.
export function kinds(text) {
  return [...new Set(find(text).map((span) => span[2]))];
}

// `text` as DOM pieces: the text around markers as strings (passed through `wrap`, e.g. to show
// bidi controls), and each marker as a clearly marked placeholder in the viewer's language.
export function withPlaceholders(text, labels, { title = "", wrap = (t) => [t] } = {}) {
  if (!text || !text.includes(MARK_START)) return wrap(text || "");
  const nodes = [];
  let last = 0;
  for (const m of text.matchAll(MARKER)) {
    if (m.index > last) nodes.push(...wrap(text.slice(last, m.index)));
    const mark = document.createElement("span");
    mark.className = "id-mask";
    mark.textContent = labels[m[1]] || `[${m[1]}]`;
    if (title) mark.title = title;
    nodes.push(mark);
    last = m.index + m[0].length;
  }
  if (last < text.length) nodes.push(...wrap(text.slice(last)));
  return nodes;
}

// `text` with each marker as its plain placeholder (notifications, titles, attributes).
export function plainPlaceholders(text, labels) {
  return (text || "").replace(MARKER, (_, kind) => labels[kind] || `[${kind}]`);
}
