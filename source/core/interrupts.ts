// Ctrl+C, a kill and an SSH hang-up, handled in one place: the first signal tells every
// subscriber (a headless command stops waiting, the console unmounts) — the host-side work
// goes on either way — and a second one ends the process at once.
import { EXIT } from './errors.ts';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const subscribers = new Set<() => void>();
let received = 0;

function onSignal(): void {
	if (++received > 1) process.exit(EXIT.interrupted);
	for (const subscriber of [...subscribers]) subscriber();
}

/** Calls `handler` on the first interrupting signal; returns the unsubscribe. */
export function onInterrupt(handler: () => void): () => void {
	if (subscribers.size === 0) for (const signal of SIGNALS) process.on(signal, onSignal);
	subscribers.add(handler);
	return () => {
		subscribers.delete(handler);
		if (subscribers.size === 0) for (const signal of SIGNALS) process.off(signal, onSignal);
	};
}
