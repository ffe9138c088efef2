/**
 * Exit codes of `agent-keyring run` when the command was not started (sysexits.h where one fits);
 * otherwise run exits with the command's own code (128+n when a signal n ended it).
 */

/** Bad usage: unknown flag, malformed --env, no command, a scope needed. */
export const EXIT_USAGE = 2;
/** Refused: no or unknown token, credential not found, scope or agent denied, anomaly rules. */
export const EXIT_DENIED = 77;
/** The server named by --url / AGENT_KEYRING_URL is not reachable. */
export const EXIT_UNAVAILABLE = 69;
