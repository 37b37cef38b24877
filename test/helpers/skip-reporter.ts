/**
 * A vitest reporter that lists every skipped test after the run, one line per skipped suite (or
 * test), with its reason: the `ctx.skip(reason)` note, or the name that carries it (the project's
 * skipped suites say why in their names). The default reporter shows only a count.
 */
import type { Reporter, TestModule } from "vitest/node";

export default class SkipReasons implements Reporter {
  private out: (s: string) => void;

  constructor(out: (s: string) => void = (s) => process.stdout.write(s)) {
    this.out = out;
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const lines: string[] = [];
    for (const m of modules) {
      // Skipped tests grouped by where they sit (file › suite), each group printed once.
      const groups = new Map<string, { count: number; notes: Set<string> }>();
      for (const t of m.children.allTests("skipped")) {
        const r = t.result();
        const note = r.state === "skipped" ? r.note : undefined;
        const where = t.parent.type === "suite" ? t.parent.fullName : t.fullName;
        const g = groups.get(where) ?? { count: 0, notes: new Set<string>() };
        g.count++;
        g.notes.add(note ?? (t.parent.type === "suite" ? "" : t.name));
        groups.set(where, g);
      }
      for (const [where, g] of groups) {
        const notes = [...g.notes].filter((n) => n !== "" && n !== where);
        lines.push(
          `  ↓ ${m.relativeModuleId} › ${where}${g.count > 1 ? ` (${g.count} tests)` : ""}${notes.length ? `: ${notes.join("; ")}` : ""}`,
        );
      }
    }
    if (lines.length) this.out(`\nSkipped, with the reasons:\n${lines.join("\n")}\n`);
  }
}
