// Reading what Windows PowerShell 5.1 prints back. Every script prints one line
// `RDENVELOPE {"ok":…,"data":…,"error":…}`; anything else on stdout (a stray warning, a banner)
// is ignored. The JSON comes from ConvertTo-Json 5.1, whose habits are handled here:
// enums may arrive as numbers, dates as "\/Date(ms)\/", a one-item array as the item itself,
// and an array that went through the extended type system as {"value":[…],"Count":n}.

export const ENVELOPE_MARKER = 'RDENVELOPE ';

export interface EnvelopeError {
	code: string;
	message: string;
	type?: string;
	category?: string;
	at?: string;
}

export type Envelope = { ok: true; data: unknown; error: null } | { ok: false; data: null; error: EnvelopeError };

export class EnvelopeMissingError extends Error {
	override name = 'EnvelopeMissingError';
	constructor(
		readonly stdout: string,
		readonly stderr: string,
	) {
		super(`PowerShell printed no result envelope${stderr.trim() ? `: ${stderr.trim().split(/\r?\n/).slice(0, 6).join(' ')}` : stdout.trim() ? `: ${stdout.trim().slice(0, 400)}` : ''}`);
	}
}

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Terminal control sequences a console host may write around output (pwsh 7 writes ESC[?1h ESC[?1l). */
// eslint-disable-next-line no-control-regex -- ESC is exactly what this pattern is about
const CONTROL_SEQUENCE = /\x1b\[[0-9;?]*[ -/]*[@-~]/g;

/** Finds the envelope line (the last one, should a script ever print two) and parses it. */
export function parseEnvelope(stdout: string, stderr = ''): Envelope {
	const lines = stdout
		.split(/\r?\n/)
		.map((line) => line.replace(CONTROL_SEQUENCE, ''))
		.filter((line) => line.startsWith(ENVELOPE_MARKER));
	const line = lines[lines.length - 1];
	if (line === undefined) throw new EnvelopeMissingError(stdout, stderr);
	let parsed: unknown;
	try {
		parsed = JSON.parse(line.slice(ENVELOPE_MARKER.length));
	} catch (error) {
		throw new Error(`PowerShell printed a damaged result envelope: ${(error as Error).message}`, { cause: error });
	}
	if (!isRecord(parsed) || typeof parsed.ok !== 'boolean') throw new Error('PowerShell printed an envelope without "ok"');
	if (parsed.ok) return { ok: true, data: normalize(parsed.data ?? null), error: null };
	const failure = isRecord(parsed.error) ? parsed.error : {};
	return {
		ok: false,
		data: null,
		error: {
			code: typeof failure.code === 'string' && failure.code ? failure.code : 'ERROR',
			message: typeof failure.message === 'string' ? failure.message : 'unknown PowerShell error',
			...(typeof failure.type === 'string' ? { type: failure.type } : {}),
			...(typeof failure.category === 'string' ? { category: failure.category } : {}),
			...(typeof failure.at === 'string' ? { at: failure.at } : {}),
		},
	};
}

/** Undoes the {"value":[…],"Count":n} wrapping 5.1 gives some arrays, everywhere in a value. */
export function normalize(value: unknown): unknown {
	if (Array.isArray(value)) return value.map(normalize);
	if (!isRecord(value)) return value;
	const keys = Object.keys(value);
	if (keys.length === 2 && keys.includes('value') && keys.includes('Count') && Array.isArray(value.value)) return value.value.map(normalize);
	return Object.fromEntries(keys.map((key) => [key, normalize(value[key])]));
}

/** A list, whether 5.1 sent an array, a single item or nothing. */
export function asArray<T = unknown>(value: unknown): T[] {
	if (value === null || value === undefined) return [];
	return (Array.isArray(value) ? value : [value]) as T[];
}

const MS_DATE = /^\/Date\((-?\d+)([+-]\d{4})?\)\/$/;

/** A date from "\/Date(ms)\/" (after JSON.parse: "/Date(ms)/"), an ISO string, or null. */
export function asDate(value: unknown): Date | null {
	if (typeof value !== 'string') return null;
	const match = MS_DATE.exec(value);
	const date = match?.[1] !== undefined ? new Date(Number(match[1])) : new Date(value);
	return Number.isNaN(date.getTime()) ? null : date;
}

export function asString(value: unknown): string | null {
	return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : null;
}

export function asNumber(value: unknown): number | null {
	if (typeof value === 'number' && Number.isFinite(value)) return value;
	if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
	return null;
}

/** Microsoft.HyperV.PowerShell.VMState, for when a state arrives as its number. ⚠ values from the SDK headers, unverified on a host. */
const VM_STATES: Record<number, string> = {
	1: 'Other',
	2: 'Running',
	3: 'Off',
	4: 'Stopping',
	6: 'Saved',
	9: 'Paused',
	10: 'Starting',
	11: 'Reset',
	32773: 'Saving',
	32776: 'Pausing',
	32777: 'Resuming',
	32779: 'FastSaved',
	32780: 'FastSaving',
};

/** A VM state name whether it came as "Running" or as 2. */
export function vmStateName(value: unknown): string {
	if (typeof value === 'number') return VM_STATES[value] ?? `State${value}`;
	return typeof value === 'string' && value ? value : 'Unknown';
}

export function mapVmState(value: unknown): 'running' | 'paused' | 'off' | 'error' {
	const name = vmStateName(value).toLowerCase();
	if (['running', 'starting', 'stopping', 'reset', 'pausing', 'resuming', 'saving', 'fastsaving'].includes(name) || name.startsWith('running')) return 'running';
	if (['paused', 'saved', 'fastsaved'].includes(name)) return 'paused';
	if (name === 'off') return 'off';
	return 'error';
}
