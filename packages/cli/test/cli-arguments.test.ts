import { expect } from "chai";
import { runCli } from "./run-cli.js";

describe("castle argument validation", function () {
  this.timeout(20_000);
  const cases: { args: string[]; stderr: RegExp }[] = [
    { args: ["topic", "create", "t", "--partitions", "0"], stderr: /--partitions.*'0' is invalid\. expected an integer >= 1/ },
    { args: ["topic", "create", "t", "--partitions", "-1"], stderr: /--partitions.*'-1' is invalid/ },
    { args: ["topic", "create", "t", "--partitions", "abc"], stderr: /--partitions.*'abc' is invalid/ },
    { args: ["topic", "create", "t", "--replication-factor", "1.5"], stderr: /--replication-factor.*'1\.5' is invalid/ },
    { args: ["topic", "create", "t", "--config", "novalue"], stderr: /--config.*expected key=value/ },
    { args: ["topic", "create", "t", "--config", "=x"], stderr: /expected key=value/ },
    { args: ["topic", "alter", "t"], stderr: /^error: nothing to alter\. give --partitions/ },
    { args: ["produce", "--topic", "t", "--acks", "2"], stderr: /--acks.*'2' is invalid\. expected 0, 1 or all/ },
    { args: ["produce"], stderr: /required option '--topic <topic>' not specified/ },
    { args: ["consume", "--topic", "t", "--offset", "5"], stderr: /^error: --offset needs --partition/ },
    { args: ["consume", "--topic", "t", "--offset", "soon", "--partition", "0"], stderr: /--offset.*'soon' is invalid/ },
    { args: ["perf", "produce", "--topic", "t", "--num-records", "0", "--record-size", "100"], stderr: /--num-records.*invalid/ },
    {
      args: ["perf", "produce", "--topic", "t", "--num-records", "10", "--record-size", "100", "--throughput", "0"],
      stderr: /--throughput.*-1 for no limit/,
    },
    { args: ["log", "dump", "/no/such/file.log"], stderr: /^error: no such file: \/no\/such\/file\.log\. give the path/ },
    { args: ["no-such-command"], stderr: /unknown command 'no-such-command'/ },
    { args: ["--bootstrap", "localhost", "topic", "list"], stderr: /^error: bootstrap server 'localhost' is not host:port/ },
  ];
  for (const { args, stderr } of cases) {
    it(`castle ${args.join(" ")} fails with a clear message`, async () => {
      const result = await runCli(args);
      expect(result.code, result.stderr).to.equal(1);
      expect(result.stderr).to.match(stderr);
      expect(result.stderr, "no stack trace").to.not.match(/\n\s+at /);
    });
  }

  it("names the server and the fix when nothing listens", async () => {
    const result = await runCli(["topic", "list"], { env: { CASTLE_BOOTSTRAP: "127.0.0.1:1" } });
    expect(result.code).to.equal(1);
    expect(result.stderr).to.match(
      /^error: cannot reach any bootstrap server \(127\.0\.0\.1:1\): is `castle server start` running\? set --bootstrap or CASTLE_BOOTSTRAP/,
    );
  });

  it("prints help with exit code 0", async () => {
    const result = await runCli(["--help"]);
    expect(result.code).to.equal(0);
    expect(result.stdout).to.match(/topic/).and.match(/perf/);
  });
});
