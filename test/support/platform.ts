// The platform's project, committee and auth services (docs/PLATFORM.md §3), played by real NATS
// subscriptions on the test's server that answer as those services do, plus the events the
// committee and project services publish (§5). Each responder can be silenced (unsubscribed: a
// request then gets "no responders") or made to hang (subscribed, never answering).
import type { NatsConnection, Subscription } from "@nats-io/transport-node";

export interface FakeMember {
  uid: string;
  username?: string;
  email: string;
  first_name?: string;
  last_name?: string;
  job_title?: string;
  organization?: { name: string; website?: string };
  voting: { status: string };
  role?: { name: string };
  committee_uid: string;
}

export const RESPONDERS = {
  projectName: "lfx.projects-api.get_name",
  committeeName: "lfx.committee-api.get_name",
  committeeMembers: "lfx.committee-api.list_members",
  emailToUsername: "lfx.auth-service.email_to_username",
} as const;

export type Responder = keyof typeof RESPONDERS;

export class FakePlatform {
  readonly projects = new Map<string, string>();
  /** Committee uid -> its members (the committee exists while it has an entry). */
  readonly committees = new Map<string, FakeMember[]>();
  readonly usernames = new Map<string, string>();
  /** How many requests each responder has answered (or swallowed). */
  readonly asked: Record<Responder, number> = {
    projectName: 0,
    committeeName: 0,
    committeeMembers: 0,
    emailToUsername: 0,
  };
  private readonly subscriptions = new Map<Responder, Subscription>();
  private readonly hanging = new Set<Responder>();

  constructor(private readonly nc: NatsConnection) {
    for (const responder of Object.keys(RESPONDERS) as Responder[]) this.answer(responder);
  }

  /** Starts (again) answering `responder`'s subject. */
  answer(responder: Responder): void {
    this.hanging.delete(responder);
    if (this.subscriptions.has(responder)) return;
    const subscription = this.nc.subscribe(RESPONDERS[responder], {
      callback: (err, msg) => {
        if (err !== null) return;
        this.asked[responder] += 1;
        if (this.hanging.has(responder)) return;
        msg.respond(this.reply(responder, msg.string()));
      },
    });
    this.subscriptions.set(responder, subscription);
  }

  /** No subscription on the subject: requests get "no responders" at once. */
  silence(responder: Responder): void {
    this.subscriptions.get(responder)?.unsubscribe();
    this.subscriptions.delete(responder);
  }

  /** Subscribed, but never answers: requests time out. */
  hang(responder: Responder): void {
    this.answer(responder);
    this.hanging.add(responder);
  }

  /** Makes sure every subscription change has reached the server. */
  flush(): Promise<void> {
    return this.nc.flush();
  }

  private reply(responder: Responder, request: string): string {
    switch (responder) {
      case "projectName":
        return this.projects.get(request) ?? "";
      case "committeeName":
        return this.committees.has(request)
          ? `Committee ${request.slice(0, 8)}`
          : JSON.stringify({ error: "committee not found" });
      case "committeeMembers":
        return JSON.stringify(this.committees.get(request) ?? []);
      case "emailToUsername":
        return this.usernames.get(request) ?? "";
    }
  }

  /** `lfx.committee-api.committee_member.<action>` with the platform's envelope. */
  publishMemberEvent(action: "created" | "updated" | "deleted", data: object): void {
    const subject = `lfx.committee-api.committee_member.${action}`;
    this.nc.publish(
      subject,
      JSON.stringify({
        event_type: `committee_member.${action}`,
        subject,
        timestamp: new Date().toISOString(),
        version: "1",
        data,
      }),
    );
  }

  publishProjectSettingsUpdated(body: object): void {
    this.nc.publish("lfx.projects-api.project_settings.updated", JSON.stringify(body));
  }

  stop(): void {
    for (const subscription of this.subscriptions.values()) subscription.unsubscribe();
    this.subscriptions.clear();
  }
}
