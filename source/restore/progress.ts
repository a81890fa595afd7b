// Byte progress with a rate over a sliding window and an ETA, for the task tree and the UI.

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

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(bytes: number): string {
	let value = bytes;
	let unit = 0;
	while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
		value /= 1024;
		unit++;
	}
	return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

export function formatDuration(seconds: number): string {
	if (!Number.isFinite(seconds)) return '?';
	if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
	if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
	const minutes = Math.floor(seconds / 60);
	if (minutes < 60) return `${minutes}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
	return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

export function formatProgress(snapshot: ProgressSnapshot): string {
	const percent = snapshot.total > 0 ? Math.min(100, (snapshot.done / snapshot.total) * 100) : 0;
	const parts = [`${formatBytes(snapshot.done)} / ${formatBytes(snapshot.total)} (${percent.toFixed(0)}%)`];
	if (snapshot.rate !== null) parts.push(`${formatBytes(snapshot.rate)}/s`);
	if (snapshot.etaSeconds !== null) parts.push(`ETA ${formatDuration(snapshot.etaSeconds)}`);
	return parts.join(' · ');
}
