/**
 * A one-line progress bar on stderr, drawn only when stderr is a terminal and not `--quiet`
 * (silent when piped or redirected, so logs and CI output stay clean).
 * @module
 */

/** The stream the bar writes to (process.stderr, or a test double). */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

/** A progress bar: `update(label, done, total)` redraws at most every `intervalMs`; `clear()` erases it. */
export class ProgressBar {
  private readonly enabled: boolean;
  private last = 0;
  private drawn = false;

  private readonly quiet: boolean;

  constructor(
    private readonly stream: ProgressStream,
    opts: { quiet?: boolean; intervalMs?: number } = {},
  ) {
    this.quiet = opts.quiet === true;
    this.enabled = !opts.quiet && stream.isTTY === true;
    this.intervalMs = opts.intervalMs ?? 80;
  }

  private readonly intervalMs: number;

  /** Whether anything will be drawn. */
  get active(): boolean {
    return this.enabled;
  }

  update(label: string, done: number, total: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (done < total && now - this.last < this.intervalMs) return;
    this.last = now;
    const width = Math.max(10, Math.min(30, (this.stream.columns ?? 80) - 50));
    const frac = total > 0 ? Math.min(1, Math.max(0, done / total)) : 1;
    const fill = Math.round(frac * width);
    const bar = "█".repeat(fill) + "░".repeat(width - fill);
    const pct = `${Math.floor(frac * 100)}`.padStart(3);
    const text = `${bar} ${pct}%  ${label}`;
    const cols = this.stream.columns ?? 80;
    this.stream.write(`\r\x1b[2K${text.slice(0, Math.max(10, cols - 1))}`);
    this.drawn = true;
  }

  /** Erases the bar (call before printing anything else). */
  clear(): void {
    if (this.enabled && this.drawn) this.stream.write("\r\x1b[2K");
    this.drawn = false;
  }

  /** Prints a line of notes on the stream (the bar erased first); nothing when quiet. */
  note(line: string): void {
    if (this.quiet) return;
    this.clear();
    this.stream.write(`${line}\n`);
  }
}
