// Step 4's proof that a VM runs: a QEMU that answers "running" right after launch may be dead
// a moment later (an accelerator that cannot run guest code leaves it in internal-error, a
// guest that triple-faults resets over and over, boot code that halts with interrupts off never
// runs again). So the VM is watched for a settle period, and a sign of the guest is awaited
// on the serial console; a VM that dies is reported with its evidence.
import fs from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { QmpClient, QmpEvent } from './qmp.ts';
import { runningPid, type RuntimeFiles } from './runtime.ts';
import { GUEST_MARKER } from '../../qemu/lab-guest.ts';

export interface StartWatch {
	/** The VM must stay running at least this long. */
	settleMs: number;
	/** And is watched this long at most for a first byte on its serial console. */
	signMs: number;
}

/** The lab guest's firmware or boot loader prints within ~1 s under TCG; a guest without a serial console is given a few seconds. */
export const START_WATCH: StartWatch = { settleMs: 1_000, signMs: 5_000 };

/** QEMU states a VM never comes back from by itself. */
const DEAD_STATES = new Set(['internal-error', 'guest-panicked', 'shutdown', 'io-error']);
/** Resets within the watch that mean a boot loop (a triple fault resets the machine at once). */
const RESET_LOOP = 2;
const POLL_MS = 100;

export type StartOutcome =
	| { alive: true; ms: number; status: string; sign: 'guest marker' | 'serial output' | null }
	| { alive: false; ms: number; status: string; reason: string };

export async function watchStart(qmp: QmpClient, files: RuntimeFiles, watch: StartWatch = START_WATCH): Promise<StartOutcome> {
	const started = Date.now();
	let resets = 0;
	const onEvent = (event: QmpEvent) => {
		if (event.event === 'RESET') resets += 1;
	};
	qmp.on('event', onEvent);
	let halted = 0;
	try {
		while (true) {
			const ms = Date.now() - started;
			if ((await runningPid(files)) === null) return { alive: false, ms, status: 'exited', reason: 'QEMU exited' };
			let status: string;
			try {
				status = (await qmp.execute<{ status: string }>('query-status', undefined, { timeoutMs: 2_000 })).status;
			} catch (error) {
				if ((await runningPid(files)) === null) return { alive: false, ms, status: 'exited', reason: 'QEMU exited' };
				throw error;
			}
			if (DEAD_STATES.has(status)) return { alive: false, ms, status, reason: `QEMU status ${status}${status === 'internal-error' ? ' (the accelerator could not run the guest code)' : ''}` };
			if (resets >= RESET_LOOP) return { alive: false, ms, status: 'reset-loop', reason: `the guest reset ${resets} times in ${ms} ms (a triple fault in its boot code?)` };
			if (ms >= watch.settleMs) {
				// Halted with interrupts off: nothing can ever wake the CPU again.
				halted = (await haltedForGood(qmp)) ? halted + 1 : 0;
				if (halted >= 2) return { alive: false, ms, status: 'halted', reason: 'the CPU halted with interrupts disabled (the boot code stopped)' };
				const sign = await serialSign(files.serialFile);
				if (sign && halted === 0) return { alive: true, ms, status, sign };
				if (ms >= watch.signMs && halted === 0) return { alive: true, ms, status, sign: null };
			}
			await sleep(POLL_MS);
		}
	} finally {
		qmp.off('event', onEvent);
	}
}

async function serialSign(serialFile: string): Promise<'guest marker' | 'serial output' | null> {
	const text = await fs.readFile(serialFile, 'latin1').catch(() => '');
	if (text.includes(GUEST_MARKER)) return 'guest marker';
	return text.trim().length > 0 ? 'serial output' : null;
}

/** CPU 0's registers as HMP shows them: HLT=1 with IF (EFLAGS bit 9) clear. */
async function haltedForGood(qmp: QmpClient): Promise<boolean> {
	const text = await qmp.execute<string>('human-monitor-command', { 'command-line': 'info registers' }, { timeoutMs: 2_000 }).catch(() => '');
	const flags = /EFL=([0-9a-f]+)/i.exec(text);
	if (!flags?.[1] || !/\bHLT=1\b/.test(text)) return false;
	return (Number.parseInt(flags[1], 16) & 0x200) === 0;
}
