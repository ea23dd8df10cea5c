/**
 * The events the workflows publish (EventBridge, source "nca.backup"), and the shaping of Step
 * Functions error causes into one readable sentence.
 */
export const EVENT_SOURCE = 'nca.backup';

export interface EventEntry {
  readonly Source: string;
  readonly DetailType: string;
  readonly Detail: string;
  readonly EventBusName: string;
}

export function eventEntry(detailType: string, detail: Record<string, unknown>, eventBusName = 'default'): EventEntry {
  return { Source: EVENT_SOURCE, DetailType: detailType, Detail: JSON.stringify(detail), EventBusName: eventBusName };
}

/** Lambda failures reach Step Functions as a JSON cause ({errorType, errorMessage, trace}); keep the message. */
export function readableCause(cause: unknown): string {
  if (typeof cause !== 'string') return String(cause ?? '');
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (parsed && typeof parsed.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // not JSON: already a plain message
  }
  return cause;
}
