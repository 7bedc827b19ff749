// Exit statuses a command can end with besides 0 (success), 1 (a bug) and 2 (bad input, see
// main.ts). A command sets one while it runs; main() returns it after the command has printed
// its full output, so scripts get both the report and the verdict.

/** `lastmile memory`: the plan was computed, but the chosen mode does not fit the device. */
export const EXIT_DOES_NOT_FIT = 3;

let requested = 0;

/** Ask main() to end with this status once the command returns normally. */
export function requestExit(code: number): void {
  requested = code;
}

/** The status the command asked for (0 if none), cleared for the next run in the same process. */
export function takeRequestedExit(): number {
  const code = requested;
  requested = 0;
  return code;
}
