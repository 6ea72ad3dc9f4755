// The repository stands alone: it holds its own copies of the wire contract and the platform's
// shapes (docs/CONTRACT.md, docs/PLATFORM.md), which code and docs cite. Where ../shared is
// checked out next to the repository (development, CI), each copy must be the same text.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const docs = fileURLToPath(new URL("../../docs/", import.meta.url));
const shared = fileURLToPath(new URL("../../../shared/", import.meta.url));
const COPIES = ["CONTRACT.md", "PLATFORM.md"];

describe("the repository's copies of the contract documents", () => {
  it.each(COPIES)("docs/%s is in the repository", (file) => {
    expect(existsSync(`${docs}${file}`)).toBe(true);
  });

  const compare = existsSync(shared) ? it.each(COPIES) : it.skip.each(COPIES);
  const note = existsSync(shared) ? "" : " (skipped: no ../shared/ to compare with)";
  compare(`docs/%s is the file of that name in ../shared/, verbatim${note}`, (file) => {
    const read = (path: string): string => readFileSync(path, "utf8");
    expect(read(`${docs}${file}`)).toBe(read(`${shared}${file}`));
  });
});
