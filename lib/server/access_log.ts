/** One request, as the access log records it. */
export interface AccessRecord {
  remoteAddress: string;
  method: string;
  path: string;
  status: number;
  bytes: number;
  durationMs: number;
  userAgent: string;
  time: Date;
}

/** Formats a request like nginx's "combined" log, plus the duration in seconds at the end. */
export function formatAccessLine(record: AccessRecord): string {
  const time = isoTime(record.time);
  const agent = record.userAgent.replace(/["\\\n\r]/g, "_");
  const path = record.path.replace(/["\\\n\r ]/g, (c) => encodeURIComponent(c));
  return `${record.remoteAddress} - - [${time}] "${record.method} ${path}" ${record.status} ${record.bytes} "${agent}" ${
    (record.durationMs / 1000).toFixed(3)
  }`;
}

// A busy server logs many requests within the same millisecond: format each millisecond once.
let lastTime = NaN;
let lastText = "";
function isoTime(time: Date): string {
  const ms = time.getTime();
  if (ms !== lastTime) {
    lastTime = ms;
    lastText = time.toISOString();
  }
  return lastText;
}
