/**
 * The tfjs namespace as the tfjs backend sees it.
 * @module
 */
/**
 * The tfjs namespace (`import * as tf from "@tensorflow/tfjs-core"` or `@tensorflow/tfjs`): only
 * the members this module calls, typed loosely, so that the published declarations do not import
 * `@tensorflow/tfjs-core` (an optional peer: `tsc` without `skipLibCheck` must pass without it).
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
export interface TF {
  getBackend(): string;
  ready(): Promise<void>;
  tidy(...args: any[]): any;
  tensor2d(...args: any[]): any;
  matMul(...args: any[]): any;
  transpose(...args: any[]): any;
  concat(...args: any[]): any;
  reshape(...args: any[]): any;
}
/* eslint-enable @typescript-eslint/no-explicit-any */
