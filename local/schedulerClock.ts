/**
 * How often a Cloud Scheduler cron fires, in minutes, for the forms a schedule of "every N
 * minutes/hours" takes (`* * * * *`, `*\/5 * * * *`, `0 * * * *`, `0 *\/2 * * *`); any other
 * schedule counts as daily. The local deployment runs one minute of schedule per `secondsPerMinute`.
 */
export function cronPeriodMinutes(schedule: string): number {
  const [minute, hour] = schedule.trim().split(/\s+/);
  const every = (field: string | undefined) => (field === "*" ? 1 : /^\*\/(\d+)$/.exec(field ?? "")?.[1]);
  const minutes = every(minute);
  if (minutes !== undefined) return Number(minutes);
  const hours = every(hour);
  if (/^\d+$/.test(minute ?? "") && hours !== undefined) return Number(hours) * 60;
  return 24 * 60;
}

/** Fires `tick` on the schedule, sped up; returns the stop function. */
export function startSchedule(schedule: string, secondsPerMinute: number, tick: () => void): () => void {
  const timer = setInterval(tick, cronPeriodMinutes(schedule) * secondsPerMinute * 1000);
  return () => clearInterval(timer);
}
