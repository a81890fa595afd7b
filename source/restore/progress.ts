// Byte progress with a rate over a sliding window and an ETA, for the task tree and the UI.
import { formatBytes, formatDuration } from '../core/format.ts';

export interface ProgressSnapshot {
	done: number;
	total: number;
	/** Bytes per second over the last few seconds; null until measurable. */
	rate: number | null;
	/** Seconds left at that rate; null when unknown. */
	etaSeconds: number | null;
}

export class ProgressMeter {
	private samples: Array<{ at: number; done: number }> = [];

	constructor(private readonly windowMs = 5000) {}

	update(done: number, total: number, now = performance.now()): ProgressSnapshot {
		this.samples.push({ at: now, done });
		while (this.samples.length > 2 && now - (this.samples[0]?.at ?? now) > this.windowMs) this.samples.shift();
		const first = this.samples[0];
		const elapsed = first ? (now - first.at) / 1000 : 0;
		const rate = first && elapsed > 0.2 && done >= first.done ? (done - first.done) / elapsed : null;
		const etaSeconds = rate && rate > 0 && total >= done ? (total - done) / rate : null;
		return { done, total, rate, etaSeconds };
	}
}

export function formatProgress(snapshot: ProgressSnapshot): string {
	const percent = snapshot.total > 0 ? Math.min(100, (snapshot.done / snapshot.total) * 100) : 0;
	const parts = [`${formatBytes(snapshot.done)} / ${formatBytes(snapshot.total)} (${percent.toFixed(0)}%)`];
	if (snapshot.rate !== null) parts.push(`${formatBytes(snapshot.rate)}/s`);
	if (snapshot.etaSeconds !== null) parts.push(`ETA ${formatDuration(snapshot.etaSeconds)}`);
	return parts.join(' · ');
}
