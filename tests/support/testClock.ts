import type { Clock } from "../../functions/restarter/clock";

/** A clock that runs with the machine's but can be moved ahead, for "the outage has lasted 11 minutes". */
export interface TestClock extends Clock {
  /** Moves this clock `ms` ahead of the machine's (cumulative). */
  advance(ms: number): void;
}

export function testClock(): TestClock {
  let offsetMs = 0;
  return {
    now: () => Date.now() + offsetMs,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    advance: (ms) => {
      offsetMs += ms;
    },
  };
}
