// Temporary directories for tests, removed by cleanup() (call it in after/afterEach).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export class TempDir {
  readonly path: string;
  constructor(prefix = "castle-test-") {
    this.path = mkdtempSync(join(tmpdir(), prefix));
  }
  join(...parts: string[]): string {
    return join(this.path, ...parts);
  }
  cleanup(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}
