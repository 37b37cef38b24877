/** `main()` of the CLI in-process, with its stdout and stderr captured. */
import { main } from "../../src/cli/main.js";

export async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(args, {
    stdout: { write: (s: string) => (out += s) },
    stderr: { isTTY: false, columns: 100, write: (s: string) => (err += s) },
    env: {},
  });
  return { code, out, err };
}
