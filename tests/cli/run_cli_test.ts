import assert from "node:assert/strict";
import { test } from "node:test";
import type { Command, CommandContext, CommandEntry } from "../../lib/cli/command.ts";
import { createBufferedOutput } from "../../lib/cli/output.ts";
import { type FallbackRunner, runCli } from "../../lib/cli/run_cli.ts";
import {
  DownloadError,
  ExpiredError,
  HashMismatchError,
  HttpStatusError,
  NotFoundError,
  SignatureError,
  TooLargeError,
  UsageError,
  VerificationError,
} from "../../lib/errors.ts";

/** A table row for `command`, recording in `loaded` each time its module is asked for. */
function entry(
  row: Command & Pick<CommandEntry, "name" | "summary">,
  loaded: string[] = [],
): CommandEntry {
  const { name, summary, ...command } = row;
  return {
    name,
    summary,
    load: () => {
      loaded.push(name);
      return Promise.resolve(command);
    },
  };
}

/** A small command table shaped like ferry's, recording what each run received and loaded. */
function fixture(
  behaviour: (context: CommandContext) => Promise<number | void> = () => Promise.resolve(),
) {
  const calls: CommandContext[] = [];
  const loaded: string[] = [];
  const record = (context: CommandContext) => {
    calls.push(context);
    return behaviour(context);
  };
  const rows: Array<Command & Pick<CommandEntry, "name" | "summary">> = [
    {
      name: "mirror serve",
      summary: "Serve a mirror",
      usage: "[DIR] [--listen HOST:PORT]",
      flags: {
        listen: {
          type: "string",
          short: "l",
          valueName: "HOST:PORT",
          default: "127.0.0.1:8080",
          description: "Address to listen on",
        },
        "tls-cert": { type: "string", description: "Certificate" },
      },
      positionals: { max: 1, names: "DIR" },
      run: record,
    },
    {
      name: "mirror publish",
      summary: "Publish a component",
      usage: "NAME VERSION TARBALL ENTRY",
      flags: {
        key: { type: "string", multiple: true, description: "Signing key" },
        standalone: { type: "boolean", description: "Standalone component" },
      },
      positionals: { min: 4, max: 4, names: "NAME VERSION TARBALL ENTRY" },
      run: record,
    },
    {
      name: "install",
      summary: "Install components",
      usage: "COMPONENT[:VERSION]...",
      flags: { force: { type: "boolean", short: "f", description: "Reinstall" } },
      positionals: { min: 1, names: "COMPONENT" },
      run: record,
    },
    {
      name: "playground",
      summary: "Start a playground",
      usage: "[VERSION] [--COMPONENT VERSION...]",
      flags: { tag: { type: "string", description: "Tag" } },
      positionals: { max: 1 },
      dynamicFlags: true,
      run: record,
    },
  ];
  return { commands: rows.map((row) => entry(row, loaded)), calls, loaded };
}

async function run(
  argv: string[],
  options: {
    behaviour?: (context: CommandContext) => Promise<number | void>;
    fallback?: FallbackRunner;
  } = {},
) {
  const { commands, calls, loaded } = fixture(options.behaviour);
  const output = createBufferedOutput();
  const code = await runCli(argv, {
    commands,
    version: "9.8.7",
    output,
    env: { FERRY_HOME: "/nonexistent" },
    ...(options.fallback ? { fallback: options.fallback } : {}),
  });
  return { code, stdout: output.stdout.join(""), stderr: output.stderr.join(""), calls, loaded };
}

function failing(error: unknown) {
  return { behaviour: () => Promise.reject(error) };
}

test("runCli() --version prints the version and exits 0", async () => {
  for (const flag of ["--version", "-V"]) {
    const r = await run([flag]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, "ferry 9.8.7\n");
    assert.equal(r.stderr, "");
  }
});

test("runCli() --help lists every command and exits 0", async () => {
  for (const flag of ["--help", "-h"]) {
    const r = await run([flag]);
    assert.equal(r.code, 0);
    for (const name of ["mirror serve", "mirror publish", "install", "playground"]) {
      assert.ok(r.stdout.includes(name), `${flag}: ${name} missing`);
    }
    assert.match(r.stdout, /Usage: ferry <command>/);
  }
});

test("runCli() with no arguments prints help and exits 2", async () => {
  const r = await run([]);
  assert.equal(r.code, 2);
  assert.match(r.stdout, /Usage: ferry <command>/);
});

test("runCli() <command> --help prints its usage, flags and defaults and exits 0", async () => {
  for (const argv of [["mirror", "serve", "--help"], ["--help", "mirror", "serve"]]) {
    const r = await run(argv);
    assert.equal(r.code, 0, argv.join(" "));
    assert.match(r.stdout, /Usage: ferry mirror serve \[DIR\] \[--listen HOST:PORT\]/);
    assert.match(
      r.stdout,
      /-l, --listen HOST:PORT\s+Address to listen on \(default "127.0.0.1:8080"\)/,
    );
    assert.match(r.stdout, /--debug/);
    assert.equal(r.calls.length, 0, "help must not run the command");
  }
});

test("runCli() a command group alone prints its verbs; with --help exits 0", async () => {
  const bare = await run(["mirror"]);
  assert.equal(bare.code, 2);
  assert.match(bare.stdout, /serve\s+Serve a mirror/);
  assert.match(bare.stdout, /publish\s+Publish a component/);
  const help = await run(["mirror", "--help"]);
  assert.equal(help.code, 0);
});

test("runCli() an unknown command suggests the closest one and exits 2", async () => {
  const r = await run(["instal", "tidb"]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, "");
  assert.equal(
    r.stderr,
    'Error: Unknown command "instal": did you mean "install"? (see "ferry --help")\n',
  );
});

test("runCli() an unknown command with nothing close gives no suggestion", async () => {
  const r = await run(["zzzzzzzz"]);
  assert.equal(r.code, 2);
  assert.ok(!r.stderr.includes("did you mean"), r.stderr);
  assert.match(r.stderr, /Unknown command "zzzzzzzz"/);
});

test("runCli() an unknown verb in a group suggests the closest verb", async () => {
  const r = await run(["mirror", "serv", "/srv"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Unknown command "mirror serv": did you mean "serve"\?/);
  assert.match(r.stderr, /ferry mirror --help/);
});

test("runCli() an unknown flag suggests the closest flag and exits 2", async () => {
  const r = await run(["mirror", "serve", "/srv", "--lisen", ":80"]);
  assert.equal(r.code, 2);
  assert.equal(r.calls.length, 0);
  assert.equal(
    r.stderr,
    'Error: Unknown flag "--lisen" for "ferry mirror serve": did you mean "--listen"? (see "ferry mirror serve --help")\n',
  );
});

test("runCli() an unknown global flag suggests the closest one", async () => {
  const r = await run(["--verison"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Unknown flag "--verison": did you mean "--version"\?/);
});

test("runCli() a string flag without its value is a usage error", async () => {
  const r = await run(["mirror", "serve", "--listen"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^Error: .*listen.*\(see "ferry mirror serve --help"\)\n$/);
  assert.equal(r.stderr.split("\n").length, 2, "one line");
});

test("runCli() missing positional arguments exit 2 with the usage", async () => {
  const r = await run(["mirror", "publish", "hello", "v1"]);
  assert.equal(r.code, 2);
  assert.equal(r.calls.length, 0);
  assert.match(r.stderr, /"ferry mirror publish" needs NAME VERSION TARBALL ENTRY/);
  assert.match(r.stderr, /usage: ferry mirror publish NAME VERSION TARBALL ENTRY/);
});

test("runCli() extra positional arguments exit 2", async () => {
  const r = await run(["mirror", "serve", "/a", "/b"]);
  assert.equal(r.code, 2);
  assert.equal(r.calls.length, 0);
  assert.match(r.stderr, /takes at most 1 argument\(s\), got 2/);
});

test("runCli() passes positionals, flags, defaults and short flags to the command", async () => {
  const r = await run(["mirror", "serve", "/srv/m", "-l", "0.0.0.0:9"]);
  assert.equal(r.code, 0);
  assert.deepEqual(r.calls[0]?.args, ["/srv/m"]);
  assert.equal(r.calls[0]?.options.listen, "0.0.0.0:9");
  const defaults = await run(["mirror", "serve"]);
  assert.equal(defaults.calls[0]?.options.listen, "127.0.0.1:8080");
  const equals = await run(["mirror", "serve", "--listen=:1"]);
  assert.equal(equals.calls[0]?.options.listen, ":1");
});

test("runCli() collects repeatable flags and booleans", async () => {
  const r = await run([
    "mirror",
    "publish",
    "hello",
    "v1",
    "h.tar.gz",
    "hello",
    "--key",
    "a.json",
    "--key",
    "b.json",
    "--standalone",
  ]);
  assert.equal(r.code, 0);
  assert.deepEqual(r.calls[0]?.options.key, ["a.json", "b.json"]);
  assert.equal(r.calls[0]?.options.standalone, true);
});

test("runCli() keeps arguments after -- as positionals", async () => {
  const r = await run(["install", "--", "--weird-name"]);
  assert.equal(r.code, 0);
  assert.deepEqual(r.calls[0]?.args, ["--weird-name"]);
});

test("runCli() dynamic-flag commands receive unknown flags in rawArgs", async () => {
  const r = await run(["playground", "v7.5.0", "--tidb", "v7.1.0", "--tag", "x"]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.calls[0]?.args, ["v7.5.0"]);
  assert.equal(r.calls[0]?.options.tag, "x");
  assert.deepEqual(r.calls[0]?.rawArgs, ["v7.5.0", "--tidb", "v7.1.0", "--tag", "x"]);
});

test("runCli() hands unknown names to the component runner when there is one", async () => {
  const seen: Array<[string, string[]]> = [];
  const fallback: FallbackRunner = (name, args) => {
    seen.push([name, args]);
    return Promise.resolve(7);
  };
  const r = await run(["hello:v0.0.1", "--flag", "x"], { fallback });
  assert.equal(r.code, 7);
  assert.deepEqual(seen, [["hello:v0.0.1", ["--flag", "x"]]]);
});

test("runCli() passes global-looking flags after a component name to the component", async () => {
  const seen: Array<[string, string[]]> = [];
  const fallback: FallbackRunner = (name, args) => {
    seen.push([name, args]);
    return Promise.resolve(0);
  };
  const r = await run(["--quiet", "hello", "-q", "--debug", "--help", "--version"], { fallback });
  assert.equal(r.code, 0);
  assert.deepEqual(seen, [["hello", ["-q", "--debug", "--help", "--version"]]]);
});

test("runCli() returns the command's exit code, 0 when it returns nothing", async () => {
  assert.equal((await run(["install", "x"], { behaviour: () => Promise.resolve(5) })).code, 5);
  assert.equal((await run(["install", "x"], { behaviour: () => Promise.resolve() })).code, 0);
});

test("runCli() maps error classes to exit codes", async () => {
  const cases: Array<[unknown, number]> = [
    [new UsageError("bad"), 2],
    [new VerificationError("bad"), 3],
    [new SignatureError("bad"), 3],
    [new ExpiredError("bad"), 3],
    [new HashMismatchError("bad"), 3],
    [new DownloadError("bad"), 4],
    [new HttpStatusError("http://x/", 503), 4],
    // A body past its signed or capped length is an attack on what was signed, not the network.
    [new TooLargeError("x", 1), 3],
    [new NotFoundError("x"), 1],
    [new Error("bug"), 1],
    ["a thrown string", 1],
  ];
  for (const [error, code] of cases) {
    const r = await run(["install", "x"], failing(error));
    assert.equal(r.code, code, String(error));
  }
});

test("runCli() prints a failure once, as one line, without a stack", async () => {
  const r = await run(["install", "x"], failing(new DownloadError('Cannot fetch "http://m/"')));
  assert.equal(r.stderr, 'Error: Cannot fetch "http://m/"\n');
  assert.equal(r.stdout, "");
});

test("runCli() adds the cause to the one line when the message lacks it", async () => {
  const error = new Error('Cannot write "a.json"', { cause: new Error("ENOSPC: no space") });
  const r = await run(["install", "x"], failing(error));
  assert.equal(r.stderr, 'Error: Cannot write "a.json": ENOSPC: no space\n');
});

test("runCli() --debug prints the stack and the cause chain", async () => {
  const error = new Error("outer failure", { cause: new Error("inner failure") });
  for (const argv of [["--debug", "install", "x"], ["install", "x", "--debug"]]) {
    const r = await run(argv, failing(error));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: Error: outer failure\n\s+at /);
    assert.match(r.stderr, /caused by: Error: inner failure\n\s+at /);
  }
  const quiet = await run(["install", "x"], failing(error));
  assert.ok(!/\bat /.test(quiet.stderr), quiet.stderr);
});

test("runCli() passes --debug to the command and not as a flag", async () => {
  const r = await run(["mirror", "serve", "--debug"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.calls[0]?.debug, true);
  assert.equal(r.calls[0]?.options.debug, undefined);
});

test("runCli() boolean flags take cobra's --flag=true and --flag=false (tiup's --hide=false)", async () => {
  const cases: Array<[string, boolean]> = [
    ["--standalone", true],
    ["--standalone=true", true],
    ["--standalone=false", false],
    ["--standalone=1", true],
    ["--standalone=0", false],
    ["--standalone=t", true],
    ["--standalone=F", false],
    ["--standalone=TRUE", true],
    ["--standalone=False", false],
  ];
  for (const [flag, value] of cases) {
    const r = await run(["mirror", "publish", "hello", "v1", "h.tar.gz", "hello", flag]);
    assert.equal(r.code, 0, `${flag}: ${r.stderr}`);
    assert.equal(r.calls[0]?.options.standalone, value, flag);
  }
  const short = await run(["install", "x", "-f=false"]);
  assert.equal(short.code, 0, short.stderr);
  assert.equal(short.calls[0]?.options.force, false);
});

test("runCli() a boolean flag with a value that is not true/false exits 2", async () => {
  const r = await run(["mirror", "publish", "hello", "v1", "h.tar.gz", "hello", "--standalone=no"]);
  assert.equal(r.code, 2);
  assert.equal(r.calls.length, 0);
  assert.match(r.stderr, /--standalone="no".*true or false/);
});

test("runCli() a boolean flag never takes the next word (--standalone false is a positional)", async () => {
  const r = await run(["install", "x", "--force", "false"]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.calls[0]?.args, ["x", "false"]);
  assert.equal(r.calls[0]?.options.force, true);
});

test("runCli() a negative number is a flag's value, not an ambiguous argument", async () => {
  const r = await run(["mirror", "serve", "--listen", "-1"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.calls[0]?.options.listen, "-1");
  const short = await run(["mirror", "serve", "-l", "-5"]);
  assert.equal(short.calls[0]?.options.listen, "-5");
});

test("runCli() global flags take =true/=false too", async () => {
  const off = await run(["mirror", "serve", "--debug=false"]);
  assert.equal(off.code, 0, off.stderr);
  assert.equal(off.calls[0]?.debug, false);
  const on = await run(["--debug=true", "mirror", "serve"]);
  assert.equal(on.calls[0]?.debug, true);
  const bad = await run(["--quiet=maybe", "mirror", "serve"]);
  assert.equal(bad.code, 2);
  assert.equal(bad.calls.length, 0);
});

test("runCli() --version with an argument is a usage error with a clean message", async () => {
  const seen: string[] = [];
  const fallback: FallbackRunner = (name) => {
    seen.push(name);
    return Promise.resolve(0);
  };
  const r = await run(["--version", "extra"], { fallback });
  assert.equal(r.code, 2);
  assert.deepEqual(seen, [], "extra must not run as a component");
  assert.equal(
    r.stderr,
    'Error: "ferry --version" takes no arguments, got "extra" (see "ferry --help")\n',
  );
});

test("runCli() help shows each default once, numbers unquoted", async () => {
  const commands = [entry({
    name: "verify",
    summary: "Verify",
    usage: "",
    flags: {
      jobs: { type: "string", default: "4", description: "Parallel checks" },
      timeout: { type: "string", default: "10", description: "Timeout (default 10 s)" },
      mode: { type: "string", default: "on", description: "Mode" },
    },
    run: () => Promise.resolve(),
  })];
  const output = createBufferedOutput();
  await runCli(["verify", "--help"], { commands, version: "1", output });
  const help = output.stdout.join("");
  assert.match(help, /Parallel checks \(default 4\)\n/);
  assert.match(help, /Timeout \(default 10 s\)\n/);
  assert.match(help, /Mode \(default "on"\)\n/);
});

test("runCli() loads no command's module for --version, --help, group help or a typo", async () => {
  for (
    const argv of [
      ["--version"],
      ["--help"],
      [],
      ["mirror"],
      ["mirror", "--help"],
      ["mirror", "serv"],
      ["instal"],
      ["--bogus"],
    ]
  ) {
    const r = await run(argv);
    assert.deepEqual(r.loaded, [], `ferry ${argv.join(" ")} loaded ${r.loaded.join(", ")}`);
  }
});

test("runCli() loads only the command that runs, or whose --help is asked for", async () => {
  const serve = await run(["mirror", "serve", "--listen", ":1"]);
  assert.equal(serve.code, 0);
  assert.deepEqual(serve.loaded, ["mirror serve"]);
  const help = await run(["install", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: ferry install COMPONENT\[:VERSION\]\.\.\./);
  assert.deepEqual(help.loaded, ["install"]);
});
