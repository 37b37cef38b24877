import { afterAll } from "vitest";
import { jsBackend } from "../../src/index.js";
import { runGoldenSuite, worst } from "./suite.js";

runGoldenSuite("js", () => jsBackend);
afterAll(() => {
  if (process.env.NRC_PRINT_ACCURACY) console.table(worst);
});
