// Builds dist/widget.js (one minified script, IIFE) and fails when it is
// over the size budget gzipped. `node build.mjs --tests` type-checks, bundles
// test/*.test.ts and runs them with node's built-in test runner.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const BUDGET = 15 * 1024; // bytes gzipped (issue 15)

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: here, stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

// Type errors fail the build (esbuild only strips the types).
run(process.execPath, [join(here, "node_modules/typescript/bin/tsc"), "-p", here]);

if (process.argv.includes("--tests")) {
  const out = join(here, "node_modules/.cache/widget-tests");
  mkdirSync(out, { recursive: true });
  const tests = readdirSync(join(here, "test")).filter((f) => f.endsWith(".test.ts"));
  await build({
    entryPoints: tests.map((f) => join(here, "test", f)),
    bundle: true,
    platform: "node",
    format: "esm",
    outdir: out,
    outExtension: { ".js": ".mjs" },
    external: ["node:*"],
    logLevel: "warning",
  });
  run(process.execPath, ["--test", ...tests.map((f) => join(out, f.replace(/\.ts$/, ".mjs")))]);
} else {
  const outfile = join(here, "dist/widget.js");
  await build({
    entryPoints: [join(here, "src/main.ts")],
    bundle: true,
    minify: true,
    format: "iife",
    target: "es2020",
    outfile,
    legalComments: "none",
    logLevel: "warning",
  });
  const js = readFileSync(outfile);
  const gz = gzipSync(js, { level: 9 }).length;
  console.log(`widget.js: ${js.length} bytes, ${gz} bytes gzipped (budget ${BUDGET})`);
  if (gz > BUDGET) {
    console.error(`widget.js is over its budget: ${gz} > ${BUDGET} bytes gzipped`);
    process.exit(1);
  }
}
