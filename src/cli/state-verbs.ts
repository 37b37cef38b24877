/**
 * The sharded-measurement verbs of the CLI, each in its own module, loaded on demand:
 * `accumulate` (one shard's data → a state file), `merge` (state files → one state and/or the
 * report) and `report` (a state file → the report). `main()` hands them the arguments after the
 * verb; they throw the same UsageError / NRCInputError as `measure`, so exit codes and messages
 * agree.
 * @module
 */
import type { CliIO } from "./args.js";

/** A verb: the arguments after its name → the exit code. */
export type Verb = (argv: readonly string[], io: CliIO) => Promise<number>;

/** The verb named `name`, or null when it is not one of these. */
export async function stateVerb(name: string | undefined): Promise<Verb | null> {
  switch (name) {
    case "accumulate":
      return (await import("./accumulate.js")).accumulateCommand;
    case "merge":
      return (await import("./merge.js")).mergeCommand;
    case "report":
      return (await import("./report-state.js")).reportCommand;
    default:
      return null;
  }
}
