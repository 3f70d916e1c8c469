/**
 * Flag values typed from the flag specs: what parseFlags() returns as `flags` and what a command
 * made with defineCommand() receives as `options`. The `@ts-expect-error` lines are checked by
 * `deno check` (scripts/test.sh): a misspelt flag name or a wrongly typed use does not compile.
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  defineCommand,
  type FlagSpecs,
  parseIntegerFlag,
  splitList,
} from "../../lib/cli/command.ts";
import { parseFlags } from "../../lib/cli/parse_flags.ts";
import { runCli } from "../../lib/cli/run_cli.ts";
import { UsageError } from "../../lib/errors.ts";
import { createBufferedOutput } from "../../lib/cli/output.ts";

const SPECS = {
  mirror: { type: "string", description: "" },
  json: { type: "boolean", short: "J", description: "" },
  jobs: { type: "string", short: "j", default: "8", description: "" },
  key: { type: "string", short: "k", multiple: true, description: "" },
} as const satisfies FlagSpecs;

/** True only when A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;
function assertType<T extends true>(_: T): void {}

test("parseFlags() types each flag from its spec", () => {
  const { flags } = parseFlags(["--json", "-k", "a"], SPECS);
  assertType<
    Equal<typeof flags, {
      readonly mirror: string | undefined;
      readonly json: boolean;
      readonly jobs: string;
      readonly key: string[];
    }>
  >(true);
  // @ts-expect-error a flag the specs do not declare is a type error
  assert.equal(flags.mirorr, undefined);
  // @ts-expect-error a boolean flag is no string
  const notAString: string = flags.json;
  assert.equal(notAString, true);
});

test("parseFlags() fills every declared flag: false, [] or undefined when absent", () => {
  const cases: Array<[string[], Record<string, unknown>]> = [
    [[], { mirror: undefined, json: false, jobs: "8", key: [] }],
    [["-J", "--mirror", "m", "-j4"], { mirror: "m", json: true, jobs: "4", key: [] }],
    [["--json=false", "--mirror=a", "--mirror=b"], {
      mirror: "b",
      json: false,
      jobs: "8",
      key: [],
    }],
    [["-k", "a,b", "--key=c"], { mirror: undefined, json: false, jobs: "8", key: ["a,b", "c"] }],
  ];
  for (const [args, expected] of cases) {
    assert.deepEqual({ ...parseFlags(args, SPECS).flags }, expected, args.join(" "));
  }
});

test("parseFlags() keeps the deprecated `values` as before", () => {
  assert.deepEqual(parseFlags(["-J"], SPECS).values, { json: true, jobs: "8" });
});

test("splitList() splits commas, trims and drops empty values", () => {
  assert.deepEqual(splitList(["a, b", "c", ""]), ["a", "b", "c"]);
  assert.deepEqual(splitList("linux,,darwin"), ["linux", "darwin"]);
  assert.deepEqual(splitList(undefined), []);
});

test("parseIntegerFlag() takes whole numbers within bounds and names the flag otherwise", () => {
  assert.equal(parseIntegerFlag("jobs", "4", { min: 1, max: 8 }), 4);
  assert.equal(parseIntegerFlag("jobs", undefined, { min: 1, max: 8 }), undefined);
  for (const text of ["0", "9", "-1", "1e3", "4.0", ""]) {
    assert.throws(
      () => parseIntegerFlag("days", text, { min: 1, max: 8, unit: "days" }),
      (error) =>
        error instanceof UsageError &&
        error.message.startsWith(`Cannot use --days "${text}": give a whole number of days`),
      text,
    );
  }
});

test("defineCommand() gives run() options typed from its flags", async () => {
  const seen: unknown[] = [];
  const command = defineCommand({
    usage: "[flags]",
    flags: SPECS,
    async run({ options }) {
      const mirror: string | undefined = options.mirror;
      const keys: string[] = options.key;
      // @ts-expect-error a misspelt flag name does not compile
      seen.push(options.jsn);
      seen.push(mirror, options.json, options.jobs, keys);
      return await Promise.resolve(0);
    },
  });
  const code = await runCli(["typed", "--mirror", "m", "-J"], {
    commands: [{ name: "typed", summary: "", load: () => Promise.resolve(command) }],
    version: "0.0.0",
    output: createBufferedOutput(),
    env: {},
  });
  assert.equal(code, 0);
  assert.deepEqual(seen, [undefined, "m", true, "8", []]);
});

test("parseFlags() leaves a tristate boolean undefined when it is not given", () => {
  const specs = {
    hide: { type: "boolean", tristate: true, description: "" },
  } as const satisfies FlagSpecs;
  const absent = parseFlags([], specs).flags;
  assertType<Equal<typeof absent.hide, boolean | undefined>>(true);
  assert.equal(absent.hide, undefined);
  assert.equal(parseFlags(["--hide=false"], specs).flags.hide, false);
  assert.equal(parseFlags(["--hide"], specs).flags.hide, true);
});
