#!/usr/bin/env node
/**
 * The `deep-nrc` executable (package.json `bin`). See `deep-nrc --help`.
 * @module
 */
import { main } from "./main.js";

// Piping into `head` closes stdout early: that is not an error.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
  throw e;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`deep-nrc: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
