import { existsSync, readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const copy = fileURLToPath(new URL("./micro-schemas/", import.meta.url));
const shared = fileURLToPath(new URL("../../../shared/micro-schemas/", import.meta.url));

describe("the repository's copy of the io.nats.micro.v1 schemas", () => {
  it("holds the three reply schemas", () => {
    expect(
      readdirSync(copy)
        .filter((f) => f.endsWith(".json"))
        .sort(),
    ).toEqual(["info_response.json", "ping_response.json", "stats_response.json"]);
  });

  const sharedFiles = existsSync(shared)
    ? readdirSync(shared).filter((f) => f.endsWith(".json"))
    : [];
  // Where ../shared is checked out next to the repository (development, CI), the copy must match.
  it.each(sharedFiles.length > 0 ? sharedFiles : ["info_response.json"])(
    "%s matches ../shared when present",
    (file) => {
      if (!existsSync(shared)) return;
      const parse = (path: string): unknown => JSON.parse(readFileSync(path, "utf8"));
      expect(parse(`${copy}${file}`)).toEqual(parse(`${shared}${file}`));
    },
  );
});
