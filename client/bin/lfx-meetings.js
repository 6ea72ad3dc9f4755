#!/usr/bin/env node
// The command's entry, present before the package is built, so that `npm ci` links it into
// node_modules/.bin; the command itself is compiled TypeScript (src/cli.ts, `npm run build`).
import "../dist/cli.js";
