/**
 * Headless Chromium for the report and browser tests (Debian's `chromium` driven by
 * playwright-core). `launchChromium()` never throws: when no browser can start it returns the
 * reason, and the tests skip with it.
 */
import { existsSync } from "node:fs";
import type { Browser } from "playwright-core";

/** Where Debian puts Chromium; override with DEEP_NRC_CHROMIUM. */
export const CHROMIUM_PATH = process.env.DEEP_NRC_CHROMIUM ?? "/usr/bin/chromium";

/** The flags every test launch uses (no sandbox: CI containers run as root). */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** Launches Chromium, or says why it could not. */
export async function launchChromium(
  extraArgs: string[] = [],
  executablePath: string = CHROMIUM_PATH,
): Promise<{ browser: Browser; reason: null } | { browser: null; reason: string }> {
  if (!existsSync(executablePath)) {
    return {
      browser: null,
      reason: `no Chromium at ${executablePath} (run scripts/ci-chromium-setup.sh or apt-get install -y chromium)`,
    };
  }
  try {
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({
      executablePath,
      args: [...CHROMIUM_ARGS, ...extraArgs],
      timeout: 30_000,
    });
    return { browser, reason: null };
  } catch (e) {
    return {
      browser: null,
      reason: `Chromium at ${executablePath} did not start: ${(e as Error).message.split("\n")[0]}`,
    };
  }
}
