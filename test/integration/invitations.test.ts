// Calendar invitations (docs/CONTRACT.md §11) end to end: entities made through the service over
// NATS, their committed changes read back from KV and handed to the invitation consumer (as the
// outbox feed will), mail delivered to a real SMTP server, parsed with mailparser, calendars read
// with ical.js and their RRULE expanded against lfx.occurrences.list.
import { randomUUID } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import ICAL from "ical.js";
import { simpleParser, type ParsedMail } from "mailparser";
import { DeliveryQueue } from "../../src/invitations/delivery.js";
import { Invitations } from "../../src/invitations/invitations.js";
import { createMailer, type Mailer } from "../../src/invitations/mailer.js";
import type { Announcement, SendRecord } from "../../src/invitations/records.js";
import type { EntityChange } from "../../src/outbox/change.js";
import { openBuckets } from "../../src/store/kv/buckets.js";
import { KvRepository } from "../../src/store/kv/kv-repository.js";
import { createRepositories } from "../../src/store/resources/repositories.js";
import { directKey } from "../../src/store/kv/keys.js";
import { registrantKey } from "../../src/store/resources/registrants.js";
import { meetingInput, uniqueEmail } from "../support/builders.js";
import { startNatsServer, type NatsServerHandle } from "../support/nats-server.js";
import { FakePlatform } from "../support/platform.js";
import { listAllPages, ok, request } from "../support/request.js";
import { connectClient, startInstance, type TestInstance } from "../support/service.js";
import { TestSmtpServer } from "../support/smtp.js";
import { until } from "../support/until.js";

interface Meeting {
  uid: string;
  revision: number;
  title: string;
  public_link: string;
  email_delivery_error_count: number;
}
interface Registrant {
  uid: string;
  revision: number;
  email: string;
  meeting_uid: string;
}
interface Occurrence {
  occurrence_id: string;
  start_time: string;
}

const FROM = "LFX Meetings <meetings@lfx.test>";
let server: NatsServerHandle;
let smtp: TestSmtpServer;
let instance: TestInstance;
let second: TestInstance;
let client: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  smtp = await TestSmtpServer.start();
  // The tests below hand changes to the consumer themselves, as the feed would (one at a time,
  // repeated, from two instances); the feed itself is tested at the end of the file.
  const env = {
    INVITATIONS: "off",
    SMTP_URL: smtp.url,
    EMAIL_FROM: FROM,
    EMAIL_RETRY_BASE_MS: "50",
    EMAIL_RETRY_MAX_MS: "200",
    EMAIL_MAX_ATTEMPTS: "100",
  };
  instance = await startInstance(server.url, { env });
  second = await startInstance(server.url, { env });
  client = await connectClient(server.url);
});

afterAll(async () => {
  await client?.close();
  await instance?.stop();
  await second?.stop();
  await smtp?.stop();
  await server?.stop();
});

// ---------------------------------------------------------------------------------------------
// Changes as the outbox feed hands them over: read back from the buckets.

async function entityChange(
  bucket: "meetings" | "meeting-registrants",
  uid: string,
  action: EntityChange["action"],
  before?: Record<string, unknown>,
): Promise<EntityChange> {
  const kv = await new Kvm(client).open(bucket);
  const key = bucket === "meetings" ? directKey(uid) : registrantKey(uid);
  const entry = await kv.get(key);
  if (entry === null) throw new Error(`${bucket} ${uid} not found`);
  const value = action === "deleted" ? before : entry.json<Record<string, unknown>>();
  if (value === undefined) throw new Error("a deleted change needs the value before");
  return { bucket, uid, revision: entry.revision, action, value, origin: {}, at: new Date() };
}

async function createMeeting(fields: Record<string, unknown>): Promise<Meeting> {
  return ok<Meeting>(client, "lfx.meetings.create", meetingInput(fields));
}

async function register(
  meetingUid: string,
  extra: Record<string, unknown> = {},
): Promise<Registrant> {
  const registrant = await ok<Registrant>(client, "lfx.registrants.create", {
    meeting_uid: meetingUid,
    email: uniqueEmail("invitee"),
    first_name: "Ada",
    last_name: "Lovelace",
    ...extra,
  });
  await instance.running.invitations.handle(
    await entityChange("meeting-registrants", registrant.uid, "created"),
  );
  return registrant;
}

// ---------------------------------------------------------------------------------------------
// Reading mail and calendars.

interface Calendar {
  method: string;
  vcalendar: ICAL.Component;
  events: ICAL.Component[];
}

function calendarOf(mail: ParsedMail): Calendar {
  const part = mail.attachments.find((a) => a.contentType === "text/calendar");
  if (part === undefined) throw new Error("no text/calendar part");
  const vcalendar = new ICAL.Component(ICAL.parse(part.content.toString("utf8")) as unknown[]);
  for (const zone of vcalendar.getAllSubcomponents("vtimezone")) {
    ICAL.TimezoneService.register(new ICAL.Timezone(zone));
  }
  return {
    method: String(vcalendar.getFirstPropertyValue("method")),
    vcalendar,
    events: vcalendar.getAllSubcomponents("vevent"),
  };
}

function only<T>(items: T[]): T {
  expect(items).toHaveLength(1);
  return items[0] as T;
}

/** The starts a calendar client gets from the series' VEVENT, EXDATEs applied. */
function expandedStarts(event: ICAL.Component, max = 500): string[] {
  const iterator = new ICAL.Event(event).iterator();
  const starts: string[] = [];
  while (starts.length < max) {
    // ical.js ends the expansion with undefined (its types say null).
    const next = iterator.next() as ICAL.Time | null | undefined;
    if (next === null || next === undefined) break;
    starts.push(new Date(next.toUnixTime() * 1000).toISOString());
  }
  return starts;
}

async function mailsTo(email: string, count: number): Promise<ParsedMail[]> {
  await until(() => smtp.countTo(email) >= count, { message: `${count} mails to ${email}` });
  return smtp.messagesTo(email);
}

// ---------------------------------------------------------------------------------------------

describe("invitation on registration", () => {
  const cases = [
    {
      name: "weekly in New York across the March DST change",
      meeting: {
        start_time: "2030-02-26T15:00:00Z",
        timezone: "America/New_York",
        recurrence: { type: 2, repeat_interval: 1, weekly_days: "3,5", end_times: 9 },
      },
      cancelIndex: 2,
    },
    {
      name: "weekly every two weeks in Berlin across the October DST change, until a date",
      meeting: {
        start_time: "2030-09-27T08:00:00Z",
        timezone: "Europe/Berlin",
        recurrence: {
          type: 2,
          repeat_interval: 2,
          weekly_days: "2",
          end_date_time: "2031-01-10T00:00:00Z",
        },
      },
      cancelIndex: 1,
    },
    {
      name: "monthly on the last Friday in Berlin across both DST changes",
      meeting: {
        start_time: "2030-01-25T16:00:00Z",
        timezone: "Europe/Berlin",
        recurrence: {
          type: 3,
          repeat_interval: 1,
          monthly_week: -1,
          monthly_week_day: 6,
          end_times: 12,
        },
      },
      cancelIndex: 3,
    },
    {
      name: "monthly on day 31 (the last day of shorter months) in New York",
      meeting: {
        start_time: "2030-01-31T15:00:00Z",
        timezone: "America/New_York",
        recurrence: { type: 3, repeat_interval: 1, monthly_day: 31, end_times: 14 },
      },
      cancelIndex: 0,
    },
    {
      name: "monthly every other month on the 15th, from a start after the 15th",
      meeting: {
        start_time: "2030-01-20T15:00:00Z",
        timezone: "America/New_York",
        recurrence: { type: 3, repeat_interval: 2, monthly_day: 15, end_times: 6 },
      },
      cancelIndex: undefined,
    },
    {
      name: "weekly on Monday from a Friday start (the series begins after start_time)",
      meeting: {
        start_time: "2030-10-18T08:00:00Z",
        timezone: "Europe/Berlin",
        recurrence: { type: 2, repeat_interval: 3, weekly_days: "2", end_times: 4 },
      },
      cancelIndex: undefined,
    },
  ];

  test.each(cases)("$name: the RRULE expands to exactly lfx.occurrences.list", async (c) => {
    let meeting = await createMeeting({ ...c.meeting, description: "Agenda in the doc" });
    const listed = await listAllPages<Occurrence>(
      client,
      "lfx.occurrences.list",
      { meeting_uid: meeting.uid, from: "2000-01-01T00:00:00Z" },
      { limit: 1000 },
    );
    expect(listed.length).toBeGreaterThan(3);
    if (c.cancelIndex !== undefined) {
      const cancelled = listed[c.cancelIndex] as Occurrence;
      meeting = await ok<Meeting>(client, "lfx.occurrences.cancel", {
        meeting_uid: meeting.uid,
        occurrence_id: cancelled.occurrence_id,
        revision: meeting.revision,
      });
    }
    const open = await listAllPages<Occurrence>(
      client,
      "lfx.occurrences.list",
      { meeting_uid: meeting.uid, from: "2000-01-01T00:00:00Z" },
      { limit: 1000 },
    );
    expect(open.length).toBe(listed.length - (c.cancelIndex === undefined ? 0 : 1));

    const registrant = await register(meeting.uid);
    const mail = only(await mailsTo(registrant.email, 1));
    expect(mail.from?.text).toContain("meetings@lfx.test");
    expect(mail.subject).toBe(`Invitation: ${meeting.title}`);
    expect(mail.text).toContain(meeting.public_link);
    expect(mail.html).toContain(meeting.public_link);
    // Attached as a file too, not only the inline alternative.
    expect(mail.attachments.some((a) => a.filename === "invite.ics")).toBe(true);

    const calendar = calendarOf(mail);
    expect(calendar.method).toBe("REQUEST");
    const event = only(calendar.events);
    expect(event.getFirstPropertyValue("uid")).toBe(`${meeting.uid}@lfx-meeting-service`);
    expect(event.getFirstPropertyValue("sequence")).toBe(0);
    expect(event.getFirstPropertyValue("summary")).toBe(meeting.title);
    expect(String(event.getFirstPropertyValue("description"))).toContain(meeting.public_link);
    expect(event.getFirstProperty("dtstart")?.getParameter("tzid")).toBe(c.meeting.timezone);
    expect(
      calendar.vcalendar.getFirstSubcomponent("vtimezone")?.getFirstPropertyValue("tzid"),
    ).toBe(c.meeting.timezone);
    expect(String(event.getFirstPropertyValue("organizer")).toLowerCase()).toBe(
      "mailto:meetings@lfx.test",
    );
    const attendee = event.getFirstProperty("attendee");
    expect(String(attendee?.getFirstValue()).toLowerCase()).toBe(`mailto:${registrant.email}`);
    expect(attendee?.getParameter("rsvp")).toBe("TRUE");
    const alarm = event.getFirstSubcomponent("valarm");
    expect(String(alarm?.getFirstPropertyValue("trigger"))).toBe("-PT10M");

    expect(expandedStarts(event)).toEqual(open.map((o) => o.start_time));
  });

  test("a registrant of one occurrence gets that occurrence alone", async () => {
    const meeting = await createMeeting({
      start_time: "2030-03-05T15:00:00Z",
      recurrence: { type: 2, repeat_interval: 1, end_times: 4 },
    });
    const occurrences = await listAllPages<Occurrence>(
      client,
      "lfx.occurrences.list",
      { meeting_uid: meeting.uid, from: "2000-01-01T00:00:00Z" },
      { limit: 100 },
    );
    const second = occurrences[1] as Occurrence;
    const registrant = await register(meeting.uid, { occurrence_id: second.occurrence_id });
    const event = only(calendarOf(only(await mailsTo(registrant.email, 1))).events);
    expect(event.getFirstProperty("rrule")).toBeNull();
    expect(expandedStarts(event)).toEqual([second.start_time]);
  });
  test("an edited occurrence is its own VEVENT with RECURRENCE-ID at its original start", async () => {
    const meeting = await createMeeting({
      start_time: "2030-03-05T15:00:00Z",
      recurrence: { type: 2, repeat_interval: 1, end_times: 4 },
    });
    const occurrences = await listAllPages<Occurrence>(
      client,
      "lfx.occurrences.list",
      { meeting_uid: meeting.uid, from: "2000-01-01T00:00:00Z" },
      { limit: 100 },
    );
    const second = occurrences[1] as Occurrence;
    const moved = new Date(Date.parse(second.start_time) + 3_600_000).toISOString();
    await ok(client, "lfx.occurrences.update", {
      meeting_uid: meeting.uid,
      occurrence_id: second.occurrence_id,
      revision: meeting.revision,
      scope: "single",
      start_time: moved,
      title: "Moved by an hour",
    });
    const registrant = await register(meeting.uid);
    const calendar = calendarOf(only(await mailsTo(registrant.email, 1)));
    expect(calendar.events).toHaveLength(2);
    const override = calendar.events.find((e) => e.getFirstProperty("recurrence-id") !== null);
    const time = (name: string) =>
      (override?.getFirstPropertyValue(name) as ICAL.Time).toJSDate().toISOString();
    expect(time("recurrence-id")).toBe(new Date(second.start_time).toISOString());
    expect(time("dtstart")).toBe(moved);
    expect(override?.getFirstPropertyValue("summary")).toBe("Moved by an hour");
  });
});

describe("changes", () => {
  test("a title change sends an updated invitation with a higher SEQUENCE, once, from any instance", async () => {
    let meeting = await createMeeting({
      recurrence: { type: 1, repeat_interval: 7, end_times: 3 },
    });
    const a = await register(meeting.uid);
    const b = await register(meeting.uid);
    meeting = await ok<Meeting>(client, "lfx.meetings.get", { uid: meeting.uid });
    meeting = await ok<Meeting>(client, "lfx.meetings.update", {
      uid: meeting.uid,
      revision: meeting.revision,
      title: "TSC (moved)",
    });
    const change = await entityChange("meetings", meeting.uid, "updated");
    // The same change delivered twice, to two instances at once, then again.
    await Promise.all([
      instance.running.invitations.handle(change),
      second.running.invitations.handle(change),
    ]);
    await instance.running.invitations.handle(change);

    for (const registrant of [a, b]) {
      const mails = await mailsTo(registrant.email, 2);
      expect(mails).toHaveLength(2);
      const updated = mails[1] as ParsedMail;
      expect(updated.subject).toBe("Updated invitation: TSC (moved)");
      const event = only(calendarOf(updated).events);
      expect(event.getFirstPropertyValue("sequence")).toBe(1);
      expect(event.getFirstPropertyValue("summary")).toBe("TSC (moved)");
    }

    // A field registrants are not told about: nothing is sent.
    meeting = await ok<Meeting>(client, "lfx.meetings.update", {
      uid: meeting.uid,
      revision: meeting.revision,
      visibility: "public",
    });
    await instance.running.invitations.handle(
      await entityChange("meetings", meeting.uid, "updated"),
    );
    // A second time change: SEQUENCE grows again.
    meeting = await ok<Meeting>(client, "lfx.meetings.update", {
      uid: meeting.uid,
      revision: meeting.revision,
      start_time: "2030-01-15T16:00:00Z",
    });
    await second.running.invitations.handle(await entityChange("meetings", meeting.uid, "updated"));
    const mails = await mailsTo(a.email, 3);
    expect(mails).toHaveLength(3);
    expect(only(calendarOf(mails[2] as ParsedMail).events).getFirstPropertyValue("sequence")).toBe(
      2,
    );
    expect(smtp.countTo(b.email)).toBe(3);
  });

  test("a cancelled occurrence: CANCEL with RECURRENCE-ID to the series, and to that occurrence's registrants only", async () => {
    let meeting = await createMeeting({
      start_time: "2030-03-05T15:00:00Z",
      recurrence: { type: 2, repeat_interval: 1, end_times: 4 },
    });
    const occurrences = await listAllPages<Occurrence>(
      client,
      "lfx.occurrences.list",
      { meeting_uid: meeting.uid, from: "2000-01-01T00:00:00Z" },
      { limit: 100 },
    );
    const [, x, y] = occurrences as [Occurrence, Occurrence, Occurrence];
    const series = await register(meeting.uid);
    const ofX = await register(meeting.uid, { occurrence_id: x.occurrence_id });
    const ofY = await register(meeting.uid, { occurrence_id: y.occurrence_id });
    meeting = await ok<Meeting>(client, "lfx.meetings.get", { uid: meeting.uid });
    meeting = await ok<Meeting>(client, "lfx.occurrences.cancel", {
      meeting_uid: meeting.uid,
      occurrence_id: x.occurrence_id,
      revision: meeting.revision,
    });
    const change = await entityChange("meetings", meeting.uid, "updated");
    await instance.running.invitations.handle(change);
    await instance.running.invitations.handle(change);

    const cancel = calendarOf((await mailsTo(series.email, 2))[1] as ParsedMail);
    expect(cancel.method).toBe("CANCEL");
    const event = only(cancel.events);
    expect(event.getFirstPropertyValue("sequence")).toBe(1);
    const recurrenceId = event.getFirstPropertyValue("recurrence-id") as ICAL.Time;
    expect(new Date(recurrenceId.toUnixTime() * 1000).toISOString()).toBe(x.start_time);

    const cancelX = calendarOf((await mailsTo(ofX.email, 2))[1] as ParsedMail);
    expect(cancelX.method).toBe("CANCEL");
    expect(smtp.countTo(series.email)).toBe(2);
    expect(smtp.countTo(ofY.email)).toBe(1);

    // A later registrant's invitation leaves the cancelled occurrence out (EXDATE).
    const late = await register(meeting.uid);
    const lateMail = only(await mailsTo(late.email, 1));
    expect(lateMail.subject).toBe(`Invitation: ${meeting.title}`);
    const invite = only(calendarOf(lateMail).events);
    expect(invite.getFirstPropertyValue("sequence")).toBe(1);
    expect(expandedStarts(invite)).toEqual(
      occurrences.filter((o) => o !== x).map((o) => o.start_time),
    );
  });

  test("deleting a meeting sends each registrant exactly one cancellation of the series", async () => {
    const created = await createMeeting({
      recurrence: { type: 1, repeat_interval: 1, end_times: 5 },
    });
    const a = await register(created.uid);
    const b = await register(created.uid);
    const kept = await register(created.uid);
    const meeting = await ok<Meeting>(client, "lfx.meetings.get", { uid: created.uid });
    const kv = await new Kvm(client).open("meetings");
    const before = (await kv.get(directKey(meeting.uid)))?.json<Record<string, unknown>>();
    const registrantsBefore = await Promise.all(
      [a, b, kept].map(
        async (r) => (await entityChange("meeting-registrants", r.uid, "created")).value,
      ),
    );
    await ok(client, "lfx.meetings.delete", { uid: meeting.uid, revision: meeting.revision });
    const meetingDeleted = await entityChange("meetings", meeting.uid, "deleted", before);
    const registrantDeleted = await Promise.all(
      [a, b, kept].map((r, i) =>
        entityChange("meeting-registrants", r.uid, "deleted", registrantsBefore[i]),
      ),
    );
    // In any order, some twice, on two instances.
    await instance.running.invitations.handle(registrantDeleted[0] as EntityChange);
    await Promise.all([
      instance.running.invitations.handle(meetingDeleted),
      second.running.invitations.handle(meetingDeleted),
    ]);
    for (const change of registrantDeleted) await second.running.invitations.handle(change);
    await instance.running.invitations.handle(registrantDeleted[0] as EntityChange);

    for (const registrant of [a, b, kept]) {
      const mails = await mailsTo(registrant.email, 2);
      expect(mails).toHaveLength(2);
      const cancel = calendarOf(mails[1] as ParsedMail);
      expect(cancel.method).toBe("CANCEL");
      const event = only(cancel.events);
      expect(event.getFirstProperty("recurrence-id")).toBeNull();
      expect(event.getFirstPropertyValue("sequence")).toBe(1);
    }
  });

  test("deleting a registrant cancels the series for them alone", async () => {
    const meeting = await createMeeting({});
    const gone = await register(meeting.uid);
    const stays = await register(meeting.uid);
    const before = (await entityChange("meeting-registrants", gone.uid, "created")).value;
    const current = await ok<Registrant>(client, "lfx.registrants.get", { uid: gone.uid });
    await ok(client, "lfx.registrants.delete", { uid: gone.uid, revision: current.revision });
    const change = await entityChange("meeting-registrants", gone.uid, "deleted", before);
    await instance.running.invitations.handle(change);
    await second.running.invitations.handle(change);
    const mails = await mailsTo(gone.email, 2);
    expect(mails).toHaveLength(2);
    expect(calendarOf(mails[1] as ParsedMail).method).toBe("CANCEL");
    expect(smtp.countTo(stays.email)).toBe(1);
  });
});

describe("lfx.registrants.resend", () => {
  test("sends the current invitation again and replies with the registrant", async () => {
    const meeting = await createMeeting({});
    const registrant = await register(meeting.uid);
    await mailsTo(registrant.email, 1);
    const reply = await ok<Registrant>(client, "lfx.registrants.resend", { uid: registrant.uid });
    expect(reply).toMatchObject({ uid: registrant.uid, email: registrant.email });
    const mails = await mailsTo(registrant.email, 2);
    expect(calendarOf(mails[1] as ParsedMail).method).toBe("REQUEST");
  });

  test("an unknown registrant is a 404, a bad request a 400", async () => {
    const missing = await request(client, "lfx.registrants.resend", { uid: "nobody-here" });
    expect(missing.status).toBe(404);
    const bad = await request<{ error: { details: { path: string }[] } }>(
      client,
      "lfx.registrants.resend",
      { uid: "x", extra: 1 },
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d) => d.path)).toContain("/extra");
  });
});

describe("delivery failures", () => {
  test("SMTP down for a while: every message is delivered once it is back", async () => {
    const meeting = await createMeeting({});
    const registrants = await Promise.all(
      [1, 2, 3].map(() =>
        ok<Registrant>(client, "lfx.registrants.create", {
          meeting_uid: meeting.uid,
          email: uniqueEmail("patient"),
        }),
      ),
    );
    await smtp.stop();
    const retriesBefore = instance.logLines.filter(
      (l) => l.msg === "invitation email failed; retrying",
    ).length;
    const handled = Promise.all(
      registrants.map(async (r) =>
        instance.running.invitations.handle(
          await entityChange("meeting-registrants", r.uid, "created"),
        ),
      ),
    );
    await until(
      () =>
        instance.logLines.filter((l) => l.msg === "invitation email failed; retrying").length >=
        retriesBefore + 6,
      { message: "failed attempts while SMTP is down" },
    );
    // Requests are served while the emails wait to be retried.
    const during = await ok<Meeting>(client, "lfx.meetings.get", { uid: meeting.uid });
    expect(during.uid).toBe(meeting.uid);
    await smtp.restart();
    await handled;
    for (const r of registrants) expect(smtp.countTo(r.email)).toBe(1);
    const stored = await ok<Meeting>(client, "lfx.meetings.get", { uid: meeting.uid });
    expect(stored.email_delivery_error_count).toBe(0);
  });

  test("a message whose retries run out counts once in email_delivery_error_count", async () => {
    const refusing = await TestSmtpServer.start();
    refusing.refusing = true;
    const strict = await startInstance(server.url, {
      env: {
        INVITATIONS: "off",
        SMTP_URL: refusing.url,
        EMAIL_FROM: FROM,
        EMAIL_RETRY_BASE_MS: "10",
        EMAIL_RETRY_MAX_MS: "20",
        EMAIL_MAX_ATTEMPTS: "3",
      },
    });
    try {
      const meeting = await createMeeting({});
      expect(meeting.email_delivery_error_count).toBe(0);
      const registrant = await ok<Registrant>(client, "lfx.registrants.create", {
        meeting_uid: meeting.uid,
        email: uniqueEmail("bounced"),
      });
      const change = await entityChange("meeting-registrants", registrant.uid, "created");
      await strict.running.invitations.handle(change);
      await strict.running.invitations.handle(change);
      await instance.running.invitations.handle(change);
      const stored = await ok<Meeting>(client, "lfx.meetings.get", { uid: meeting.uid });
      expect(stored.email_delivery_error_count).toBe(1);
      expect(smtp.countTo(registrant.email)).toBe(0);
      const gaveUp = strict.logLines.filter(
        (l) => l.msg === "invitation email not delivered; giving up",
      );
      expect(gaveUp).toHaveLength(1);
    } finally {
      await strict.stop();
      await refusing.stop();
    }
  });
});

describe("an instance that stops in the middle of sending", () => {
  /** An invitation consumer on its own connection, as another instance would have. */
  async function consumerWith(mailer: Mailer) {
    const nc = await connectClient(server.url);
    const buckets = await openBuckets({
      nc,
      js: jetstream(nc),
      jsm: await jetstreamManager(nc),
      replicas: 1,
      log: instance.log,
    });
    const policy = {
      ratePerSecond: 1000,
      concurrency: 2,
      maxAttempts: 5,
      retryBaseMs: 50,
      retryMaxMs: 100,
    };
    const invitations = new Invitations({
      repos: createRepositories(buckets),
      announcements: new KvRepository<Announcement>(buckets.invitations),
      sends: new KvRepository<SendRecord>(buckets.invitations),
      // A sender's lease lasts 1 s here instead of 45 s, so the take-over comes quickly.
      queue: new DeliveryQueue(mailer, policy, instance.log, 1000),
      from: FROM,
      log: instance.log,
      now: () => new Date(),
      pollMs: 50,
    });
    return {
      invitations,
      async close() {
        await nc.close();
      },
    };
  }

  test("another instance sends the rest, and nothing twice", async () => {
    let meeting = await createMeeting({});
    const registrants: Registrant[] = [];
    for (let i = 0; i < 6; i += 1) registrants.push(await register(meeting.uid));
    meeting = await ok<Meeting>(client, "lfx.meetings.get", { uid: meeting.uid });
    meeting = await ok<Meeting>(client, "lfx.meetings.update", {
      uid: meeting.uid,
      revision: meeting.revision,
      description: "New agenda",
    });
    const change = await entityChange("meetings", meeting.uid, "updated");

    // The first instance delivers two emails, then hangs for good in the middle of the next ones.
    const smtpMailer = createMailer(instanceEmail());
    let delivered = 0;
    const freezing: Mailer = {
      async send(message) {
        if (delivered >= 2) return new Promise<void>(() => undefined);
        delivered += 1;
        await smtpMailer.send(message);
      },
      close: () => smtpMailer.close(),
    };
    const frozen = await consumerWith(freezing);
    const healthyMailer = createMailer(instanceEmail());
    const healthy = await consumerWith(healthyMailer);
    try {
      void frozen.invitations.handle(change);
      const updates = () =>
        registrants.filter((r) => smtp.countTo(r.email) === 2).map((r) => r.email);
      await until(() => updates().length === 2 && delivered === 2, {
        message: "the first two updates",
      });

      // The feed hands the change to another instance (the first never acknowledged it).
      await healthy.invitations.handle(change);
      for (const registrant of registrants) {
        const mails = await smtp.messagesTo(registrant.email);
        expect(mails.map((m) => m.subject)).toEqual([
          `Invitation: ${meeting.title}`,
          `Updated invitation: ${meeting.title}`,
        ]);
      }
    } finally {
      smtpMailer.close();
      healthyMailer.close();
      await frozen.close();
      await healthy.close();
    }
  });
});

function instanceEmail() {
  return {
    invitations: false,
    smtpUrl: smtp.url,
    from: FROM,
    dir: "",
    ratePerSecond: 1000,
    concurrency: 2,
    maxAttempts: 5,
    retryBaseMs: 50,
    retryMaxMs: 100,
  };
}

describe("without SMTP_URL", () => {
  test("messages are written as .eml files to EMAIL_DIR", async () => {
    const dir = await mkdtemp(join(tmpdir(), "outbox-"));
    const local = await startInstance(server.url, {
      env: { INVITATIONS: "off", EMAIL_DIR: dir, EMAIL_FROM: FROM },
    });
    try {
      const meeting = await createMeeting({ title: "Written to disk" });
      const registrant = await ok<Registrant>(client, "lfx.registrants.create", {
        meeting_uid: meeting.uid,
        email: uniqueEmail("offline"),
      });
      await local.running.invitations.handle(
        await entityChange("meeting-registrants", registrant.uid, "created"),
      );
      const files = await readdir(dir);
      expect(files).toHaveLength(1);
      const mail = await simpleParser(await readFile(join(dir, files[0] as string)));
      expect(mail.subject).toBe("Invitation: Written to disk");
      expect(calendarOf(mail).method).toBe("REQUEST");
    } finally {
      await local.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("driven by the feed of committed changes", () => {
  test("a registration and a title change reach the registrant once each, with no one calling", async () => {
    // The only instance that runs the invitations feed; the others have INVITATIONS=off.
    const fed = await startInstance(server.url, {
      env: { INVITATIONS: "on", SMTP_URL: smtp.url, EMAIL_FROM: FROM, EMAIL_RETRY_BASE_MS: "50" },
    });
    try {
      const meeting = await createMeeting({ title: "Fed by the outbox" });
      const registrant = await register(meeting.uid);
      const invitation = only(await mailsTo(registrant.email, 1));
      expect(calendarOf(invitation).method).toBe("REQUEST");
      await ok(client, "lfx.meetings.update", {
        uid: meeting.uid,
        revision: (await ok<Meeting>(client, "lfx.meetings.get", { uid: meeting.uid })).revision,
        title: "Fed by the outbox, renamed",
      });
      const mails = await mailsTo(registrant.email, 2);
      const sequences = mails.map((m) =>
        Number(calendarOf(m).events[0]?.getFirstPropertyValue("sequence")),
      );
      expect(sequences[1]).toBeGreaterThan(sequences[0] ?? Infinity);
      expect(mails[1]?.subject).toContain("renamed");
    } finally {
      await fed.stop();
    }
  });
});

describe("with the platform's lookups", () => {
  test("the email names the project, as the project service calls it", async () => {
    const platform = new FakePlatform(client);
    await platform.flush();
    const looking = await startInstance(server.url, {
      env: {
        INVITATIONS: "off",
        PLATFORM_LOOKUPS: "on",
        SMTP_URL: smtp.url,
        EMAIL_FROM: FROM,
      },
    });
    try {
      const projectUid = randomUUID();
      platform.projects.set(projectUid, "Open Telemetry Fantasy");
      const meeting = await ok<Meeting>(
        client,
        "lfx.meetings.create",
        meetingInput({ project_uid: projectUid }),
      );
      const registrant = await ok<Registrant>(client, "lfx.registrants.create", {
        meeting_uid: meeting.uid,
        email: uniqueEmail("named"),
      });
      await looking.running.invitations.handle(
        await entityChange("meeting-registrants", registrant.uid, "created"),
      );
      const mail = only(await mailsTo(registrant.email, 1));
      expect(mail.text).toContain("Project: Open Telemetry Fantasy");
      expect(mail.html).toContain("Project: Open Telemetry Fantasy");
    } finally {
      await looking.stop();
      platform.stop();
    }
  });
});
