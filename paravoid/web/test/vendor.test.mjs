// The served bundle and its licence file are exactly what build.mjs makes from package-lock.json.
import { test } from "node:test";
import assert from "node:assert/strict";

import { stale } from "../build.mjs";

test("the vendored files match a rebuild from the lock file", async () => {
  assert.deepEqual(await stale(), [], "run `npm ci && npm run build` in paravoid/web");
});
