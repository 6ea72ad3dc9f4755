// The root pino logger: JSON lines on stdout (docs/CONTRACT.md §1). Request payloads are never
// logged at info; fields that can hold personal data are redacted wherever they appear in a logged
// object.
import { pino, type Logger } from "pino";

export type { Logger };

const PERSONAL_FIELDS = ["email", "first_name", "last_name", "username", "organizers"];

/**
 * KV subjects in error messages (`no responders: '$JS.API.DIRECT.GET.KV_b.$KV.b.<key>'`) end in
 * the key, and a key may encode an email (docs/CONTRACT.md §6): cut after the bucket.
 */
const SUBJECT_KEYS = /(\$KV\.[^.\s'"]+|\$JS\.API\.DIRECT\.GET\.[^.\s'"]+)\.[^\s'"]+/g;

function withoutKeys(text: string | undefined): string | undefined {
  return text?.replace(SUBJECT_KEYS, "$1.…");
}

/** pino's error serializer, with the keys cut out of messages and stacks (causes included). */
function serializeError(err: Error): pino.SerializedError {
  const serialized = pino.stdSerializers.err(err);
  serialized.message = withoutKeys(serialized.message) ?? "";
  const stack = withoutKeys(serialized.stack);
  if (stack !== undefined) serialized.stack = stack;
  return serialized;
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: "lfx-meeting-service" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    serializers: { err: serializeError },
    redact: {
      paths: PERSONAL_FIELDS.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]),
      censor: "[redacted]",
    },
  };
  return pino(options, destination ?? stdoutDestination());
}

/**
 * stdout written off the request path: a synchronous write per line cost ~6% of the service's
 * CPU under load (bench/). Lines queue while a write is in flight and go out together; pino
 * flushes what is queued when the process exits (also after an uncaught error), and stops
 * writing on a closed pipe (EPIPE) instead of failing. Lost: at most the lines of the last
 * moments before a SIGKILL.
 */
export function stdoutDestination(): ReturnType<typeof pino.destination> {
  return pino.destination({ dest: 1, sync: false });
}
