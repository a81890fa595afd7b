// The one place an error that reached the top is told to the user and turned into an exit
// code — for the headless commands and for the console alike. A RundirectError is a situation
// with a hint; anything else is a bug, whose stack RUNDIRECT_DEBUG=1 shows.
import { EXIT, RundirectError, errorMessage } from './errors.ts';

export interface ReportTarget {
	/** Also write the error as one NDJSON record on stdout (`--json`). */
	json: boolean;
	stdout?: NodeJS.WritableStream;
	stderr?: NodeJS.WritableStream;
}

export function exitCodeOf(error: unknown): number {
	return error instanceof RundirectError ? error.exitCode : EXIT.failed;
}

/** Writes the error (and its hint) and returns the exit code to end with. */
export function reportError(error: unknown, target: ReportTarget, exitCode = exitCodeOf(error)): number {
	const stdout = target.stdout ?? process.stdout;
	const stderr = target.stderr ?? process.stderr;
	const hint = error instanceof RundirectError ? error.hint : undefined;
	if (target.json) stdout.write(`${JSON.stringify({ time: new Date().toISOString(), type: 'error', ok: false, exitCode, message: errorMessage(error), hint: hint ?? null })}\n`);
	stderr.write(`error: ${errorMessage(error)}\n`);
	if (hint) stderr.write(`hint: ${hint}\n`);
	if (!(error instanceof RundirectError) && process.env.RUNDIRECT_DEBUG && error instanceof Error) stderr.write(`${error.stack}\n`);
	return exitCode;
}
