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
  return `${record.remoteAddress} - - [${time}] "${record.method} ${
    escapePath(record.path)
  }" ${record.status} ${record.bytes} "${escapeAgent(record.userAgent)}" ${
    seconds(record.durationMs)
  }`;
}

// Most requests need no escaping: a test is cheaper than a replace that finds nothing, and a
// server sees the same few user agents over and over.
const PATH_SPECIALS = /["\\\n\r ]/;
const AGENT_SPECIALS = /["\\\n\r]/;
function escapePath(path: string): string {
  return PATH_SPECIALS.test(path)
    ? path.replace(/["\\\n\r ]/g, (c) => encodeURIComponent(c))
    : path;
}
let lastAgent = "";
let lastEscapedAgent = "";
function escapeAgent(agent: string): string {
  if (agent !== lastAgent) {
    lastAgent = agent;
    lastEscapedAgent = AGENT_SPECIALS.test(agent) ? agent.replace(/["\\\n\r]/g, "_") : agent;
  }
  return lastEscapedAgent;
}

function seconds(ms: number): string {
  // Answers from memory take microseconds: skip the number formatting for them.
  return ms < 0.25 ? "0.000" : (ms / 1000).toFixed(3);
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
