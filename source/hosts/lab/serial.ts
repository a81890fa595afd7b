// The lab guest's serial console, as the driver reads it. The marker (source/qemu/lab-guest.ts)
// is the contract between the lab guest and the driver: the proof of life of a session's VM.
import fs from 'node:fs/promises';
import { GUEST_MARKER } from '../../qemu/lab-guest.ts';
import type { Evidence } from '../host.ts';

/** QEMU truncates the log at each start and the marker comes early in boot: the head is enough. */
const HEAD_BYTES = 1 << 20;
/** A drill's evidence: the console's last lines (a boot log fits; a chatty guest is cut). */
const TAIL_BYTES = 16 * 1024;
const TAIL_LINES = 60;

/** Whether the guest printed its marker since QEMU last started. */
export async function guestMarkerSeen(serialFile: string): Promise<boolean> {
	return (await readHead(serialFile)).includes(GUEST_MARKER);
}

async function readHead(serialFile: string): Promise<string> {
	const handle = await fs.open(serialFile, 'r').catch(() => null);
	if (!handle) return '';
	try {
		const buffer = Buffer.alloc(HEAD_BYTES);
		const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
		return buffer.subarray(0, bytesRead).toString('latin1');
	} finally {
		await handle.close();
	}
}

/** The console's last lines: what the guest printed (or did not) — a recovery drill's evidence. */
export async function serialTail(serialFile: string): Promise<Evidence> {
	const handle = await fs.open(serialFile, 'r').catch(() => null);
	if (!handle) return { kind: 'serial-tail', text: '', file: serialFile };
	try {
		const { size } = await handle.stat();
		const length = Math.min(size, TAIL_BYTES);
		const buffer = Buffer.alloc(length);
		const { bytesRead } = await handle.read(buffer, 0, length, size - length);
		const lines = buffer.subarray(0, bytesRead).toString('latin1').split(/\r?\n/);
		// A tail cut mid-line starts with a fragment: drop it unless it is all there is.
		if (size > length && lines.length > 1) lines.shift();
		return { kind: 'serial-tail', text: lines.slice(-TAIL_LINES).join('\n'), file: serialFile };
	} finally {
		await handle.close();
	}
}
