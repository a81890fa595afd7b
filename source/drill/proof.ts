// Proof of life: the host's own sign that the guest really booted (lab: the guest's serial
// marker; Hyper-V: the Heartbeat integration service OK), polled until it shows or time is up.
import { setTimeout as sleep } from 'node:timers/promises';
import { proofOfLifeOf } from '../hosts/capabilities.ts';
import type { Host, RestorePlan, RuntimeStatus } from '../hosts/host.ts';
import { AbortedError } from '../core/errors.ts';

export type ProofResult = { alive: true; at: number } | { alive: false; reason: string };

export function proofName(host: Host): string {
	return proofOfLifeOf(host).name;
}

/**
 * Polls `host.status()` until `guestAlive` is true (resolves with the performance.now() of that
 * poll), the VM stops, or `deadline` (performance.now() clock) passes.
 */
export async function waitForProofOfLife(
	host: Host,
	plan: RestorePlan,
	deadline: number,
	signal: AbortSignal,
	onPoll?: (status: RuntimeStatus | null, remainingMs: number) => void,
): Promise<ProofResult> {
	// The host knows what a poll costs: a local file read can be frequent, a PowerShell round trip cannot.
	const { pollMs } = proofOfLifeOf(host);
	let last: RuntimeStatus | null = null;
	let lastError: string | null;
	while (true) {
		if (signal.aborted) throw new AbortedError();
		try {
			last = await host.status(plan);
			lastError = null;
		} catch (error) {
			// A status poll can fail transiently (a busy monitor, a PowerShell hiccup): keep trying until the deadline.
			lastError = (error as Error).message;
		}
		const now = performance.now();
		if (last?.guestAlive === true && lastError === null) return { alive: true, at: now };
		if (last && (last.vm === 'off' || last.vm === 'missing' || last.vm === 'error')) {
			return { alive: false, reason: `the VM is ${last.vm} (it stopped before showing proof of life)` };
		}
		onPoll?.(last, deadline - now);
		if (now >= deadline) {
			const seen = lastError ? `; the last status poll failed: ${lastError}` : last?.guestAlive === null ? `; the host cannot see the guest's ${proofName(host)} (integration service off?)` : '';
			return { alive: false, reason: `no proof of life (${proofName(host)}) within the timeout${seen}` };
		}
		await sleep(Math.min(pollMs, Math.max(deadline - now, 0)), undefined, { signal }).catch(() => undefined);
	}
}
