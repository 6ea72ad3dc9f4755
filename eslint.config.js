// Type-checked lint; the import restrictions hold the layering described in docs/ARCHITECTURE.md.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/** Imports from the named folders of src/ and their subfolders: "../store/kv/keys.js", "../../rpc/x.js". */
function layers(...folders) {
  return folders.map((folder) => `**/${folder}/**`);
}

/** `no-restricted-imports` with these patterns for the files matching `files`. */
function restrictImports(files, patterns) {
  return { files: [files], rules: { "no-restricted-imports": ["error", { patterns }] } };
}

export default tseslint.config(
  {
    ignores: [
      "dist/",
      "client/dist/",
      "client/src/generated/",
      "node_modules/",
      "coverage/",
      "data/",
      "bench/results/",
      "src/generated/",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", ignoreRestSiblings: true },
      ],
    },
  },
  // Dependencies point one way (docs/ARCHITECTURE.md "Layout"): handlers/ use rpc/ (endpoint
  // types) and store/, rpc/ uses store/, and all of them use domain/; never the other way.
  restrictImports("src/domain/**/*.ts", [
    {
      group: ["@nats-io/*", ...layers("store", "rpc", "handlers")],
      message: "domain/ is pure: no NATS, no storage, no wire, no use cases.",
    },
  ]),
  restrictImports("src/store/**/*.ts", [
    {
      group: layers("rpc", "handlers"),
      message: "store/ is below rpc/ and handlers/: they call it, never the other way.",
    },
  ]),
  restrictImports("src/store/kv/**/*.ts", [
    {
      group: layers("rpc", "handlers", "resources"),
      message:
        "store/kv/ is the KV core: it knows no bucket layout (store/resources/), rpc/ or handlers/.",
    },
  ]),
  restrictImports("src/rpc/**/*.ts", [
    {
      group: layers("handlers"),
      message: "rpc/ is the adapter: handlers/ are handed to it (service.ts), never imported.",
    },
  ]),
  restrictImports("src/handlers/**/*.ts", [
    {
      group: ["@nats-io/*"],
      message: "handlers/ never touch NATS: go through store/ and events.",
    },
  ]),
  {
    files: ["**/*.js", "**/*.mjs"],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
