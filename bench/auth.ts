// The cost of callers and permissions (issue 14): meetings.get with AUTH_MODE=jwt (token verified
// against a JWKS file, the access check answered once and then cached) against AUTH_MODE=off.
// Both instances run at the same time on one nats-server of their own, each in an account of its
// own (same subjects, separate buckets), and rounds alternate [off, jwt]. The RS256 key, the
// token and the access-check responder (in this process, granting everything) are the tests'
// own (test/support/auth.ts).
import { randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import { dirname } from "node:path";
import { headers, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import {
  bearer,
  generateSigningKey,
  signToken,
  startAccessCheckResponder,
  TEST_AUDIENCE,
  TEST_ISSUER,
  writeJwksFile,
} from "../test/support/auth.js";
import { startNatsServer } from "../test/support/nats-server.js";
import { call, meetingRequest } from "./fixtures.js";
import type { LoadResult } from "./load.js";
import { alternate, progress } from "./measure.js";
import { waitReady, answersPing, type ChildHandle } from "./processes.js";
import { SERVICE_NAME } from "./settings.js";

const PASSWORD = "bench";
const PRINCIPAL = "bench-caller";
const IN_FLIGHT = [1, 64] as const;

export interface AuthRow {
  in_flight: number;
  off: LoadResult;
  jwt: LoadResult;
  rounds: { off: LoadResult[]; jwt: LoadResult[] };
}

const ACCOUNTS = `
accounts {
  OFF: { jetstream: enabled, users: [{ user: "off", password: "${PASSWORD}" }] }
  JWT: { jetstream: enabled, users: [{ user: "jwt", password: "${PASSWORD}" }] }
}
`;

export async function measureAuth(
  spawn: (name: string, env: Record<string, string>) => ChildHandle,
): Promise<AuthRow[]> {
  progress("auth: meetings.get with AUTH_MODE=jwt and with AUTH_MODE=off, one account each");
  const server = await startNatsServer({ extraConfig: ACCOUNTS });
  const key = await generateSigningKey("RS256");
  const jwksFile = await writeJwksFile([key]);
  const token = await signToken(key, { sub: PRINCIPAL, username: "bench" });
  const connections: NatsConnection[] = [];
  const instances: ChildHandle[] = [];
  try {
    const connectAs = async (user: string) => {
      const nc = await connect({ servers: server.url, user, pass: PASSWORD, noAsyncTraces: true });
      connections.push(nc);
      return nc;
    };
    const ncOff = await connectAs("off");
    const ncJwt = await connectAs("jwt");
    const accessCheck = startAccessCheckResponder(ncJwt);
    accessCheck.superusers.add(PRINCIPAL);
    await ncJwt.flush();
    const account = (user: string) => ({
      NATS_URL: server.url,
      NATS_USER: user,
      NATS_PASSWORD: PASSWORD,
    });
    const off = spawn("auth-off", { ...account("off"), AUTH_MODE: "off" });
    instances.push(off);
    const jwt = spawn("auth-jwt", {
      ...account("jwt"),
      AUTH_MODE: "jwt",
      JWKS_FILE: jwksFile,
      JWT_ISSUER: TEST_ISSUER,
      JWT_AUDIENCE: TEST_AUDIENCE,
    });
    instances.push(jwt);
    await waitReady(off, "the AUTH_MODE=off instance", () => answersPing(ncOff, SERVICE_NAME));
    await waitReady(jwt, "the AUTH_MODE=jwt instance", () => answersPing(ncJwt, SERVICE_NAME));

    const project = randomUUID();
    const { uid: offUid } = await call<{ uid: string }>(
      ncOff,
      "lfx.meetings.create",
      meetingRequest(project),
    );
    const { uid: jwtUid } = await call<{ uid: string }>(
      ncJwt,
      "lfx.meetings.create",
      meetingRequest(project),
      bearer(token),
    );
    const authorization = headers();
    authorization.set("Authorization", bearer(token).Authorization);
    const rows: AuthRow[] = [];
    for (const inFlight of IN_FLIGHT) {
      const { a, b, rounds } = await alternate(
        ncOff,
        {
          // The same header both ways: the client's cost of sending it is not the service's.
          a: {
            subject: "lfx.meetings.get",
            body: () => JSON.stringify({ uid: offUid }),
            headers: authorization,
          },
          b: {
            subject: "lfx.meetings.get",
            body: () => JSON.stringify({ uid: jwtUid }),
            headers: authorization,
          },
          inFlight,
          label: "meetings.get off | jwt",
        },
        ncJwt,
      );
      rows.push({ in_flight: inFlight, off: a, jwt: b, rounds: { off: rounds.a, jwt: rounds.b } });
    }
    return rows;
  } finally {
    await Promise.all(connections.map((nc) => nc.close()));
    await Promise.all(instances.map((instance) => instance.stop()));
    await server.stop();
    await rm(dirname(jwksFile), { recursive: true, force: true });
  }
}
