import { ConfigError, loadConfig } from "../../src/config.js";

describe("loadConfig", () => {
  it("defaults to a local server and info logs", () => {
    const config = loadConfig({});
    expect(config.natsServers).toEqual(["nats://127.0.0.1:4222"]);
    expect(config.logLevel).toBe("info");
    expect(config.kvReplicas).toBe(1);
    expect(config.natsUserPassword).toBeUndefined();
    expect(config.serviceToken).toBe("lfx-meeting-service");
    expect(config.outboxLeaseMs).toBe(3000);
  });

  it("splits NATS_URL on commas", () => {
    expect(loadConfig({ NATS_URL: "nats://a:4222, nats://b:4222" }).natsServers).toEqual([
      "nats://a:4222",
      "nats://b:4222",
    ]);
  });

  it.each([
    [{ LOG_LEVEL: "loud" }, /LOG_LEVEL/],
    [{ KV_REPLICAS: "0" }, /KV_REPLICAS/],
    [{ KV_REPLICAS: "three" }, /KV_REPLICAS/],
    [{ NATS_USER: "svc" }, /NATS_USER and NATS_PASSWORD/],
    [{ NATS_URL: " , " }, /NATS_URL/],
    [{ NATS_INBOX_PREFIX: "_INBOX.>" }, /NATS_INBOX_PREFIX/],
    [{ NATS_INBOX_PREFIX: "a b" }, /NATS_INBOX_PREFIX/],
    [{ NATS_INBOX_PREFIX: "a..b" }, /NATS_INBOX_PREFIX/],
    [{ PLATFORM_LOOKUPS: "yes" }, /PLATFORM_LOOKUPS must be on or off/],
    [{ PLATFORM_TIMEOUT_MS: "0" }, /PLATFORM_TIMEOUT_MS/],
    [{ AUTH_MODE: "none" }, /AUTH_MODE/],
    [{ AUTH_MODE: "JWT" }, /AUTH_MODE/],
    [{ JWKS_URL: "file:///keys.json" }, /JWKS_URL/],
    [{ JWKS_URL: "https://gw/jwks", JWKS_FILE: "/keys.json" }, /JWKS_URL and JWKS_FILE/],
    [{ OUTBOX_LEASE_MS: "10" }, /OUTBOX_LEASE_MS/],
  ])("refuses %j, naming the variable", (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it("looks up the platform unless PLATFORM_LOOKUPS=off (docs/CONTRACT.md §1)", () => {
    expect(loadConfig({}).platformLookups).toBe(true);
    expect(loadConfig({ PLATFORM_LOOKUPS: "on" }).platformLookups).toBe(true);
    expect(loadConfig({ PLATFORM_LOOKUPS: "off" }).platformLookups).toBe(false);
    expect(loadConfig({}).platformTimeoutMs).toBe(1500);
  });

  it("takes user and password together", () => {
    expect(loadConfig({ NATS_USER: "u", NATS_PASSWORD: "p" }).natsUserPassword).toEqual({
      user: "u",
      pass: "p",
    });
  });

  it("takes an inbox prefix of the service's own (docs/SECURITY.md)", () => {
    expect(loadConfig({}).natsInboxPrefix).toBeUndefined();
    expect(loadConfig({ NATS_INBOX_PREFIX: "_INBOX_lfx-meeting-service" }).natsInboxPrefix).toBe(
      "_INBOX_lfx-meeting-service",
    );
  });

  it("verifies tokens by default, with the keys, issuer and audience given", () => {
    expect(loadConfig({}).auth).toEqual({
      mode: "jwt",
      jwks: undefined,
      issuer: undefined,
      audience: undefined,
    });
    expect(
      loadConfig({
        JWKS_URL: "https://gw.example/.well-known/jwks",
        JWT_ISSUER: "https://gw.example/",
        JWT_AUDIENCE: "lfx",
      }).auth,
    ).toEqual({
      mode: "jwt",
      jwks: { kind: "url", url: "https://gw.example/.well-known/jwks" },
      issuer: "https://gw.example/",
      audience: "lfx",
    });
    expect(loadConfig({ JWKS_FILE: "/etc/keys.json" }).auth).toMatchObject({
      jwks: { kind: "file", path: "/etc/keys.json" },
    });
  });

  it("AUTH_MODE=off makes every caller LOCAL_PRINCIPAL (local-dev by default)", () => {
    expect(loadConfig({ AUTH_MODE: "off" }).auth).toEqual({
      mode: "off",
      localPrincipal: "local-dev",
    });
    expect(loadConfig({ AUTH_MODE: "off", LOCAL_PRINCIPAL: "ada" }).auth).toEqual({
      mode: "off",
      localPrincipal: "ada",
    });
  });

  it("has a placeholder SERVICE_TOKEN for local runs", () => {
    expect(loadConfig({}).serviceToken).toBe("lfx-meeting-service");
    expect(loadConfig({ SERVICE_TOKEN: "eyJ.x.y" }).serviceToken).toBe("eyJ.x.y");
  });

  test("invitations: SMTP_URL must be smtp:// or smtps://, and is not echoed when wrong", () => {
    expect(loadConfig({}).email).toMatchObject({ smtpUrl: undefined, dir: "./data/outbox" });
    expect(loadConfig({ SMTP_URL: "smtps://u:p@mail.example.org:465" }).email.smtpUrl).toBe(
      "smtps://u:p@mail.example.org:465",
    );
    expect(() => loadConfig({ SMTP_URL: "http://u:secret@mail.example.org" })).toThrow(
      /^SMTP_URL must be smtp:\/\/\[user:pass@\]host:port or smtps:\/\/\.\.\.$/,
    );
    expect(() => loadConfig({ EMAIL_RATE_PER_SECOND: "0" })).toThrow(/EMAIL_RATE_PER_SECOND/);
    expect(loadConfig({ EMAIL_FROM: "LFX <m@example.org>" }).email.from).toBe(
      "LFX <m@example.org>",
    );
    expect(loadConfig({ EMAIL_FROM: "m@example.org" }).email.from).toBe("m@example.org");
    expect(() => loadConfig({ EMAIL_FROM: "LFX Meetings" })).toThrow(/EMAIL_FROM/);
  });
});
