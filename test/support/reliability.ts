// Records the outcome of a robustness case (bad input, injected fault) for the README's
// reliability table: one JSON line per record, appended to the file named by
// RUNDIRECT_RELIABILITY_OUT. Without that variable it does nothing.
import fs from 'node:fs/promises';
import path from 'node:path';

/** One case's outcome; `kind` says which suite it comes from ('bad-input', 'fault', …). */
export interface ReliabilityRecord {
	kind: string;
	case: string;
	[field: string]: unknown;
}

export async function recordReliability(record: ReliabilityRecord, file = process.env.RUNDIRECT_RELIABILITY_OUT): Promise<void> {
	if (!file) return;
	await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
	// One appendFile call per line: concurrent writers never interleave within a line.
	await fs.appendFile(file, `${JSON.stringify(record)}\n`);
}
