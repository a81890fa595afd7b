// The error model of every part: a RundirectError is a situation the user can act on (it
// carries the exit code the headless commands use and a hint of what to do next); anything
// else that reaches the top is a bug and is reported as one. Drivers raise HostError with a
// code of their own so callers can tell situations apart without parsing messages.

export const EXIT = {
	ok: 0,
	/** A step failed; the session records what was done and what can be retried. */
	failed: 1,
	/** Bad usage or invalid input (arguments, manifests, names, paths). */
	usage: 2,
	/** Refused before anything changed: pre-flight, lock held, confirmation missing. */
	refused: 3,
	/** No such VM, restore point or session. */
	notFound: 4,
	/** Interrupted (Ctrl+C, SIGHUP): the host-side work goes on; run the command again to continue. */
	interrupted: 130,
} as const;

export class RundirectError extends Error {
	override name = 'RundirectError';
	constructor(
		message: string,
		readonly exitCode: number,
		/** What the user can do next. */
		readonly hint?: string,
	) {
		super(message);
	}
}

/** A host's own refusal or failure, with a stable code (e.g. "NO_SPACE", "QEMU_EXITED"). */
export class HostError extends RundirectError {
	override name = 'HostError';
	constructor(
		readonly code: string,
		message: string,
		exitCode: number = EXIT.failed,
		hint?: string,
	) {
		super(message, exitCode, hint);
	}
}

export class PreflightError extends RundirectError {
	override name = 'PreflightError';
	constructor(readonly problems: string[]) {
		super(`pre-flight checks failed, nothing was changed:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`, EXIT.refused);
	}
}

export class AbortedError extends RundirectError {
	override name = 'AbortedError';
	constructor() {
		super('interrupted; the host carries on with what it was doing', EXIT.interrupted, 'run the same command again to continue from the journal');
	}
}

/** A finalize given up by the operator before step 6: the VM runs from its backup as before. */
export class FinalizeCancelledError extends RundirectError {
	override name = 'FinalizeCancelledError';
	constructor(vm: string) {
		super(`the finalize of ${vm} was cancelled before step 6: ${vm} runs from its backup as before, every change it made kept in its snapshot layer`, EXIT.interrupted, `"rundirect finalize ${vm}" starts it again; "rundirect stop ${vm}" discards the restore`);
	}
}

export function errorMessage(error: unknown): string {
	return error instanceof Error ? error.message : String(error);
}
