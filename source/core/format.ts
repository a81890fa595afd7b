// How sizes, durations and rates read everywhere: the console, the headless commands, reports.

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

/**
 * Free and needed space in a message an administrator acts on: whole MiB below a GiB, rounded
 * up so a need is never understated ("4 MiB free, 37 MiB needed"), one decimal in GiB above.
 */
export function formatSpace(bytes: number): string {
	return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${Math.ceil(bytes / 2 ** 20)} MiB`;
}

export function formatDuration(seconds: number): string {
	if (!Number.isFinite(seconds)) return '?';
	if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
	if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
	const minutes = Math.floor(seconds / 60);
	if (minutes < 60) return `${minutes}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
	return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

export function formatRate(bytesPerSecond: number): string {
	return `${formatBytes(bytesPerSecond)}/s`;
}

/** A measured time (milliseconds) as seconds to the hundredth — "12.34 s" — or "—" when it was not measured. */
export function formatMs(ms: number | null): string {
	return ms === null ? '—' : `${(ms / 1000).toFixed(2)} s`;
}

/** How long ago a moment was, in a word or two: "just now", "45 min ago", "5 h ago", "3 days ago". */
export function formatAge(iso: string, now: number): string {
	const minutes = Math.max(0, (now - Date.parse(iso)) / 60_000);
	if (!Number.isFinite(minutes)) return '';
	if (minutes < 1) return 'just now';
	if (minutes < 60) return `${Math.floor(minutes)} min ago`;
	const hours = minutes / 60;
	if (hours < 48) return `${Math.floor(hours)} h ago`;
	return `${Math.floor(hours / 24)} days ago`;
}
