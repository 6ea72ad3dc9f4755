// Where invitation emails go (docs/CONTRACT.md §1 SMTP_URL, EMAIL_DIR): SMTP through nodemailer
// (TLS and authentication as the URL says), or, without SMTP_URL, one .eml file per message in
// EMAIL_DIR, which is what `make run` does on a machine with no mail server.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import nodemailer from "nodemailer";
import type { EmailConfig } from "../config.js";
import type { InvitationMessage } from "./message.js";

export interface Mailer {
  /** Resolves once the SMTP server accepted the message (or the file is written). */
  send(message: InvitationMessage): Promise<void>;
  close(): void;
}

/** One SMTP conversation may not take longer than this; the delivery queue retries after it. */
const SMTP_TIMEOUT_MS = 15_000;

export function createMailer(config: EmailConfig): Mailer {
  return config.smtpUrl === undefined ? fileMailer(config.dir) : smtpMailer(config);
}

function smtpMailer(config: EmailConfig): Mailer {
  const transport = nodemailer.createTransport({
    url: config.smtpUrl,
    pool: true,
    maxConnections: Math.min(config.concurrency, 5),
    connectionTimeout: SMTP_TIMEOUT_MS,
    greetingTimeout: SMTP_TIMEOUT_MS,
    socketTimeout: SMTP_TIMEOUT_MS,
  });
  return {
    async send(message) {
      await transport.sendMail(message);
    },
    close: () => transport.close(),
  };
}

function fileMailer(dir: string): Mailer {
  const transport = nodemailer.createTransport({
    streamTransport: true,
    buffer: true,
    newline: "windows",
  });
  let sequence = 0;
  return {
    async send(message) {
      const info = await transport.sendMail(message);
      await mkdir(dir, { recursive: true });
      sequence += 1;
      const name = `${new Date().toISOString().replaceAll(":", "")}-${process.pid}-${sequence}.eml`;
      await writeFile(join(dir, name), info.message);
    },
    close: () => transport.close(),
  };
}
