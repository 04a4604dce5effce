/**
 * Exact money. fal sends USD as JSON numbers. A double cannot hold every decimal, but the
 * shortest text JavaScript prints for it is the decimal fal wrote, so nano-USD (1 USD = 1e9) is derived from
 * that text with integer arithmetic, never by multiplying floats.
 */
const NANO_DIGITS = 9;

/**
 * USD → integer nano-USD. Exact when the amount has at most 9 decimals (every amount fal documents);
 * beyond that the 10th decimal rounds half away from zero. Returns null for null/undefined/non-finite input.
 * The input is a double, so all 9 decimals survive only below 2^23 USD (8,388,608): above that one ulp exceeds
 * 1 nano-USD, and the result may differ from fal's text in the last nano. Far above any single fal line.
 */
export function usdToNano(value: number | null | undefined): number | null {
  if (value === null || value === undefined || !Number.isFinite(value)) return null;
  if (Number.isInteger(value)) return value * 1e9;
  return decimalTextToNano(String(value));
}

const DECIMAL_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * Decimal USD text (as fal writes it in FOCUS CSV, e.g. `12.345678901`, `-25.00`, `1e-7`) → integer nano-USD,
 * straight from the digits, so amounts with more significant digits than a double holds are still exact.
 * Beyond 9 decimals the 10th rounds half away from zero. Returns undefined when the text is not a plain decimal.
 */
export function usdTextToNano(text: string): number | undefined {
  const trimmed = text.trim();
  if (!DECIMAL_TEXT.test(trimmed)) return undefined;
  const nano = decimalTextToNano(trimmed.startsWith('+') ? trimmed.slice(1) : trimmed);
  return Number.isSafeInteger(nano) ? nano : undefined;
}

/** The digits of a decimal (optionally signed, optionally in exponent notation) moved 9 places, as an integer. */
function decimalTextToNano(decimal: string): number {
  let text = decimal;
  let negative = false;
  if (text.startsWith('-')) {
    negative = true;
    text = text.slice(1);
  }
  let exponent = 0;
  const e = text.search(/e/i);
  if (e >= 0) {
    exponent = Number(text.slice(e + 1));
    text = text.slice(0, e);
  }
  const dot = text.indexOf('.');
  let intPart = dot >= 0 ? text.slice(0, dot) : text;
  let fracPart = dot >= 0 ? text.slice(dot + 1) : '';
  // Move the decimal point by the exponent.
  if (exponent > 0) {
    const shift = fracPart.padEnd(exponent, '0');
    intPart += shift.slice(0, exponent);
    fracPart = shift.slice(exponent);
  } else if (exponent < 0) {
    const shift = intPart.padStart(-exponent + 1, '0');
    fracPart = shift.slice(shift.length + exponent) + fracPart;
    intPart = shift.slice(0, shift.length + exponent);
  }
  const kept = fracPart.slice(0, NANO_DIGITS).padEnd(NANO_DIGITS, '0');
  let nano = Number(intPart || '0') * 1e9 + Number(kept);
  const next = fracPart.charCodeAt(NANO_DIGITS);
  if (next >= 53 /* '5' */ && next <= 57) nano += 1;
  // -0 (e.g. "-0.00") is zero.
  return negative && nano !== 0 ? -nano : nano;
}
