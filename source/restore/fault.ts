// Fault injection for the crash tests: RUNDIRECT_FAULT=kill-after:<step-id> makes the
// controller SIGKILL itself right after that step is journaled as done, exactly as a
// power cut or an OOM kill between two steps would.
import type { StepId } from './session.ts';

export function maybeInjectFault(step: StepId): void {
	const fault = process.env.RUNDIRECT_FAULT;
	if (fault === `kill-after:${step}`) process.kill(process.pid, 'SIGKILL');
}
