import assert from "node:assert/strict";
import { test } from "node:test";
import type { FlagSpec } from "../../lib/cli/command.ts";
import { parseBooleanValue, parseFlags, UnknownFlagError } from "../../lib/cli/parse_flags.ts";
import { UsageError } from "../../lib/errors.ts";

const SPECS: Record<string, FlagSpec> = {
  full: { type: "boolean", short: "f", description: "" },
  quiet: { type: "boolean", short: "q", description: "" },
  jobs: { type: "string", short: "j", default: "8", description: "" },
  key: { type: "string", short: "k", multiple: true, description: "" },
  source: { type: "string", description: "" },
};

test("parseFlags() reads the spellings pflag accepts", () => {
  const cases: Array<[string[], Record<string, unknown>, string[]]> = [
    [["a"], { jobs: "8" }, ["a"]],
    [["-j4"], { jobs: "4" }, []],
    [["-j=4"], { jobs: "4" }, []],
    [["-j", "4"], { jobs: "4" }, []],
    [["--jobs=4"], { jobs: "4" }, []],
    [["--jobs", "4", "--jobs", "5"], { jobs: "5" }, []],
    [["-fq"], { full: true, quiet: true, jobs: "8" }, []],
    [["-fj2"], { full: true, jobs: "2" }, []],
    [["-f=false"], { full: false, jobs: "8" }, []],
    [["--full=0", "x"], { full: false, jobs: "8" }, ["x"]],
    [["-k", "a", "--key=b"], { key: ["a", "b"], jobs: "8" }, []],
    [["--source", "-"], { source: "-", jobs: "8" }, []],
    [["--jobs", "-3"], { jobs: "-3" }, []],
    [["-", "--", "--full", "-j"], { jobs: "8" }, ["-", "--full", "-j"]],
  ];
  for (const [args, values, positionals] of cases) {
    const parsed = parseFlags(args, SPECS);
    assert.deepEqual(parsed.values, values, args.join(" "));
    assert.deepEqual(parsed.positionals, positionals, args.join(" "));
  }
});

test("parseFlags() keeps each value of a repeatable flag whole, commas included", () => {
  const specs = { registry: { type: "string", multiple: true, description: "" } } as const;
  const parsed = parseFlags(
    ["--registry", "a=http://a,ca=x.pem", "--registry=b=http://b,library"],
    specs,
  );
  assert.deepEqual(parsed.flags.registry, ["a=http://a,ca=x.pem", "b=http://b,library"]);
  assert.deepEqual(parseFlags([], specs).flags.registry, []);
});

test("parseFlags() refuses unknown flags, naming them", () => {
  for (const [args, flag] of [[["--fulll"], "--fulll"], [["-x"], "-x"], [["-fx"], "-x"]] as const) {
    assert.throws(
      () => parseFlags(args, SPECS),
      (error) => error instanceof UnknownFlagError && error.flag === flag,
    );
  }
});

test("parseFlags() refuses a string flag without its value", () => {
  for (const args of [["--jobs"], ["-j"], ["--source", "--full"]]) {
    assert.throws(() => parseFlags(args, SPECS), UsageError, args.join(" "));
  }
});

test("parseFlags() with dynamic flags skips undeclared ones and their values", () => {
  const parsed = parseFlags(
    ["pkg", "--tidb", "v1,v2", "--pd=latest", "--tikv", "--full", "v3"],
    SPECS,
    { dynamic: true },
  );
  assert.deepEqual(parsed.positionals, ["pkg", "v3"]);
  assert.equal(parsed.values.full, true);
});

test("parseFlags() with dynamic flags collects undeclared ones with their values, in order", () => {
  const parsed = parseFlags(
    ["pkg", "--tidb", "v1,v2", "--pd=latest", "--tikv", "--full", "--tidb", "v3", "--", "--x"],
    SPECS,
    { dynamic: true },
  );
  assert.deepEqual(parsed.dynamic, [
    { name: "tidb", value: "v1,v2" },
    { name: "pd", value: "latest" },
    { name: "tikv", value: undefined },
    { name: "tidb", value: "v3" },
  ]);
  assert.deepEqual(parsed.positionals, ["pkg", "--x"]);
});

test("parseBooleanValue() takes exactly Go's strconv.ParseBool words", () => {
  for (const word of ["1", "t", "T", "TRUE", "true", "True"]) {
    assert.equal(parseBooleanValue("--x", word), true);
  }
  for (const word of ["0", "f", "F", "FALSE", "false", "False"]) {
    assert.equal(parseBooleanValue("--x", word), false);
  }
  for (const word of ["", "yes", "no", "tRUE", "2", " true"]) {
    assert.throws(() => parseBooleanValue("--x", word), UsageError, JSON.stringify(word));
  }
});
