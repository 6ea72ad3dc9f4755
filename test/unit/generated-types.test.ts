// Type drift (STYLE "Tests"): src/generated/schema-types.ts must be what schemas/ generate today.

import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CLIENT_OUTPUT_FILE,
  generateTypes,
  OUTPUT_FILE,
  SCHEMA_DIR,
} from "../../scripts/gen-types.mjs";

describe("generated schema types", () => {
  it("are up to date with schemas/", async () => {
    const fresh = await generateTypes(SCHEMA_DIR);
    const onDisk = await readFile(OUTPUT_FILE, "utf8");
    if (fresh !== onDisk) {
      throw new Error("src/generated/schema-types.ts is stale: run npm run gen:types");
    }
    if (fresh !== (await readFile(CLIENT_OUTPUT_FILE, "utf8"))) {
      throw new Error("client/src/generated/schema-types.ts is stale: run npm run gen:types");
    }
  });

  it("map each subject to its reply: entity, page or deleted", async () => {
    const text = await readFile(OUTPUT_FILE, "utf8");
    expect(text).toContain('"lfx.meetings.create": Meeting;');
    expect(text).toContain('"lfx.meetings.delete": Deleted;');
    expect(text).toContain('"lfx.meetings.list": Page<Meeting>;');
    expect(text).toContain('"lfx.occurrences.list": Page<Occurrence>;');
    expect(text).toContain('"lfx.occurrences.cancel": Meeting;');
    expect(text).toContain('"lfx.summaries.approve": Summary;');
    expect(text).toContain('"lfx.meeting-settings.get": MeetingSettings;');
  });

  it("declare every titled type once and map each subject to its request type", async () => {
    const text = await readFile(OUTPUT_FILE, "utf8");
    for (const name of ["Meeting", "MeetingSettings", "Occurrence", "Recurrence", "ZoomConfig"]) {
      expect(text.match(new RegExp(`^export interface ${name} \\{`, "gm"))).toHaveLength(1);
    }
    expect(text).toContain('"lfx.meetings.create": MeetingsCreateRequest;');
    expect(text).toContain('"lfx.meeting-settings.update": MeetingSettingsUpdateRequest;');
    expect(text).toContain("export type Subject = keyof RequestBySubject;");
    expect(text).not.toMatch(/\[k: string\]/);
  });

  it("change when a schema changes", async () => {
    const dir = await mkdtemp(join(tmpdir(), "schemas-"));
    try {
      await cp(SCHEMA_DIR, dir, { recursive: true });
      const file = join(dir, "meetings.get.json");
      const schema = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
      await writeFile(file, JSON.stringify({ ...schema, title: "MeetingsFetchRequest" }));
      const changed = await generateTypes(dir);
      expect(changed).toContain('"lfx.meetings.get": MeetingsFetchRequest;');
      // A new endpoint's schema is picked up, its reply found by its resource's name.
      await writeFile(
        join(dir, "registrants.resend.json"),
        JSON.stringify({ ...schema, title: "R" }),
      );
      const added = await generateTypes(dir);
      expect(added).toContain('"lfx.registrants.resend": R;');
      expect(added).toContain('"lfx.registrants.resend": Registrant;');
      expect(changed).not.toEqual(await generateTypes(SCHEMA_DIR));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
