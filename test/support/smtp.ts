// A real SMTP server for tests (smtp-server, the test server of nodemailer's authors) on a free
// loopback port: it keeps every message it accepts, can refuse them all, and can go down and come
// back on the same port.
import type { AddressInfo } from "node:net";
import { simpleParser, type ParsedMail } from "mailparser";
import { SMTPServer } from "smtp-server";

export interface ReceivedMail {
  to: string[];
  raw: Buffer;
}

export class TestSmtpServer {
  readonly received: ReceivedMail[] = [];
  /** When true, every message is refused (550) after its data is read. */
  refusing = false;
  private server: SMTPServer | undefined;

  private constructor(private port: number) {}

  static async start(): Promise<TestSmtpServer> {
    const smtp = new TestSmtpServer(0);
    await smtp.listen();
    return smtp;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  /** Messages to `address`, parsed, in the order they arrived. */
  async messagesTo(address: string): Promise<ParsedMail[]> {
    const raws = this.received.filter((mail) => mail.to.includes(address.toLowerCase()));
    return Promise.all(raws.map((mail) => simpleParser(mail.raw)));
  }

  countTo(address: string): number {
    return this.received.filter((mail) => mail.to.includes(address.toLowerCase())).length;
  }

  /** Closes the port and drops open connections: the mail server is down. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Listens again on the same port. */
  async restart(): Promise<void> {
    await this.listen();
  }

  private async listen(): Promise<void> {
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS", "AUTH"],
      logger: false,
      closeTimeout: 50,
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on("data", (chunk: Buffer) => chunks.push(chunk));
        stream.on("end", () => {
          if (this.refusing) {
            const refused = Object.assign(new Error("mailbox unavailable"), { responseCode: 550 });
            callback(refused);
            return;
          }
          this.received.push({
            to: session.envelope.rcptTo.map((rcpt) => rcpt.address.toLowerCase()),
            raw: Buffer.concat(chunks),
          });
          callback();
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.port = (server.server.address() as AddressInfo).port;
    this.server = server;
  }
}
