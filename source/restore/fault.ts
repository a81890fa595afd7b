// Fault injection for the crash tests. RUNDIRECT_FAULT makes the controller SIGKILL itself
// exactly as a power cut, an OOM kill or a closed SSH session would:
//   kill-after:<step-id>   right after that step is journaled as done (between two steps);
//   kill-during:<step-id>  at that step's first progress report (in the middle of it).
import type { StepId } from './session.ts';

export function maybeInjectFault(step: StepId, when: 'after' | 'during'): void {
	if (process.env.RUNDIRECT_FAULT === `kill-${when}:${step}`) process.kill(process.pid, 'SIGKILL');
}
