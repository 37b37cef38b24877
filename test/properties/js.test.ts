import { jsBackend } from "../../src/index.js";
import { runPropertySuite } from "./suite.js";

runPropertySuite("js", () => jsBackend);
