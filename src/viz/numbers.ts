/**
 * Small string helpers shared by the report's SVG and HTML writers.
 * @module
 */

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/**
 * Escapes text for HTML/SVG element content and double- or single-quoted attribute values.
 *
 * @param s - any text (a layer name, a run label, a degenerate reason).
 * @returns `s` with `& < > " '` replaced by entities.
 * @example
 * escapeHTML('a<&"b'); // 'a&lt;&amp;&quot;b'
 */
export function escapeHTML(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

/**
 * Formats a metric for a table cell: 4 significant digits (trailing zeros kept when rounded),
 * exponent form for very small or very large magnitudes, `0` for an exact zero, an em dash for a missing value.
 *
 * @param x - the value, or null when the metric does not exist for the layer.
 * @returns the formatted text.
 * @example
 * fmtNumber(0.004758239938369435); // '4.758e-3'
 * fmtNumber(0.001); // '1e-3'
 * fmtNumber(0.8007472778855418); // '0.8007'
 * fmtNumber(0.02); // '0.02'
 * fmtNumber(0.99999); // '1.000'
 * fmtNumber(null); // '—'
 */
export function fmtNumber(x: number | null): string {
  if (x === null) return "—";
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a < 1e-2 || a >= 1e5) {
    return x
      .toExponential(3)
      .replace(/\.?0+e/, "e")
      .replace("e+", "e");
  }
  if (Number.isInteger(x)) return String(x);
  const p = x.toPrecision(4);
  // Trailing zeros are dropped only when the short form is exact (0.02 → "0.02"); a rounded value
  // keeps them (0.99999 → "1.000", not "1").
  return p.includes(".") && !p.includes("e") && Number(p) === x ? p.replace(/\.?0+$/, "") : p;
}

/**
 * Formats a number exactly enough for a tooltip / `title` attribute (17 significant digits,
 * trailing zeros dropped).
 *
 * @param x - the value or null.
 * @returns the text, `null` for a missing value.
 * @example
 * fmtFull(0.1); // '0.1'
 */
export function fmtFull(x: number | null): string {
  if (x === null) return "null";
  return String(x);
}
