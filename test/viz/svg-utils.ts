/**
 * Tiny, dependency-free readers of the SVG that Vega's string renderer writes: mark groups by
 * name, axis tick labels and positions, and a well-formedness check. Written against the SVG
 * structure (class="mark-… role-mark NAME_marks", aria-label="Y-axis …"), not against our code.
 */

/** The inner text of every `<g class="… NAME_marks" …>` group (non-nested groups: mark items). */
export function markGroups(svg: string, name: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`<g class="mark-[a-z]+ role-mark ${name}_marks"[^>]*>`, "g");
  let m: RegExpExecArray | null;
  while ((m = re.exec(svg)) !== null) {
    const start = m.index + m[0].length;
    // Mark items of symbol/rule/line/text/rect marks are leaf elements: the group ends at the
    // first </g> after them.
    const end = svg.indexOf("</g>", start);
    out.push(svg.slice(start, end));
  }
  return out;
}

/** Number of `<tag` elements in `s`. */
export function countTags(s: string, tag: string): number {
  return (s.match(new RegExp(`<${tag}[\\s>/]`, "g")) ?? []).length;
}

/** `translate(x,y)` of every element in `s` (document order). */
export function translates(s: string): { x: number; y: number }[] {
  return [...s.matchAll(/transform="translate\(([-0-9.e]+),([-0-9.e]+)\)"/g)].map((m) => ({
    x: Number(m[1]),
    y: Number(m[2]),
  }));
}

/** The text of every `<text>` element in `s`, entity-decoded. */
export function texts(s: string): string[] {
  return [...s.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => decode(m[1]));
}

/** Decodes the five XML entities. */
export function decode(s: string): string {
  return s
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&");
}

/** The aria-label of an axis ('X' or 'Y'), and its block of SVG. */
export function axis(svg: string, which: "X" | "Y"): { label: string; block: string } {
  const re = new RegExp(`aria-label="(${which}-axis[^"]*)"`);
  const m = re.exec(svg);
  if (!m) throw new Error(`no ${which} axis`);
  const start = m.index;
  const next = svg.indexOf('aria-roledescription="axis"', start + m[0].length);
  const block = svg.slice(start, next === -1 ? undefined : next);
  return { label: decode(m[1]), block };
}

/**
 * The numeric tick labels of an axis with their pixel position along the axis, taken from the
 * tick lines (labels carry a baseline offset); ticks and labels come in the same order.
 */
export function axisTicks(svg: string, which: "X" | "Y"): { value: number; pos: number }[] {
  const { block } = axis(svg, which);
  const group = (role: string) => {
    const i = block.indexOf(role);
    return block.slice(i, block.indexOf("</g>", i));
  };
  const ticks = translates(group("role-axis-tick"));
  const labels = texts(group("role-axis-label"));
  if (ticks.length !== labels.length) throw new Error("ticks and labels differ in number");
  return labels
    .map((t, i) => ({
      // A layer axis labels "position name" (e.g. "3 fc3"): the position is the value.
      value: Number(t.replace("−", "-").split(" ")[0]),
      pos: which === "X" ? ticks[i].x : ticks[i].y,
    }))
    .filter((t) => Number.isFinite(t.value));
}

/**
 * Maps a data value to its pixel position using two tick labels of the axis (the first and last),
 * interpolating linearly, or in log10 for a log axis.
 */
export function pixelOf(ticks: { value: number; pos: number }[], v: number, log: boolean): number {
  const a = ticks[0];
  const b = ticks[ticks.length - 1];
  const f = log ? Math.log10 : (x: number) => x;
  return a.pos + ((f(v) - f(a.value)) / (f(b.value) - f(a.value))) * (b.pos - a.pos);
}

/**
 * A small XML well-formedness check: every tag closes in order, attribute values are quoted, and
 * text holds no raw `<` or a bare `&` that does not start an entity. Returns the first problem, or
 * null.
 */
export function xmlProblem(xml: string): string | null {
  const stack: string[] = [];
  const tagRe = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>/y;
  let i = 0;
  while (i < xml.length) {
    const lt = xml.indexOf("<", i);
    const text = xml.slice(i, lt === -1 ? xml.length : lt);
    const amp = /&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.exec(text);
    if (amp) return `bare & in text near ${JSON.stringify(text.slice(0, 40))}`;
    if (lt === -1) break;
    tagRe.lastIndex = lt;
    const m = tagRe.exec(xml);
    if (!m) return `malformed tag at ${lt}: ${JSON.stringify(xml.slice(lt, lt + 60))}`;
    const [, close, name, attrs, self] = m;
    const amp2 = /&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.exec(attrs);
    if (amp2) return `bare & in attributes of <${name}>`;
    if (close) {
      const open = stack.pop();
      if (open !== name) return `</${name}> closes <${open}>`;
    } else if (!self) {
      stack.push(name);
    }
    i = tagRe.lastIndex;
  }
  return stack.length === 0 ? null : `unclosed <${stack.join("> <")}>`;
}
