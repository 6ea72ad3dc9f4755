// The root pino logger: JSON lines on stdout (CONTRACT §1). Request payloads are never logged at
// info; fields that can hold personal data are redacted wherever they appear in a logged object.
import { pino, type Logger } from "pino";

export type { Logger };

const PERSONAL_FIELDS = ["email", "first_name", "last_name", "username", "organizers"];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: "lfx-meeting-service" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: {
      paths: PERSONAL_FIELDS.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]),
      censor: "[redacted]",
    },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
