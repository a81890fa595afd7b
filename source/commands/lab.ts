// `rundirect lab init`: builds the lab guest, the sample backup destination and the lab
// host's existing VMs, with progress.
import { initLab } from '../lab/init.ts';
import { labPaths, type Paths } from '../paths.ts';
import { detectAccelerator } from '../hosts/lab/accel.ts';
import { formatDuration } from '../restore/progress.ts';

export interface LabInitOutput {
	json: boolean;
	emit(record: Record<string, unknown>): void;
	say(text: string): void;
}

export async function labInitCommand(paths: Paths, output: LabInitOutput, options: { force?: boolean }): Promise<number> {
	const began = performance.now();
	let lastLine = '';
	const summary = await initLab(paths, {
		force: options.force,
		onProgress: (message, fraction) => {
			output.emit({ type: 'progress', step: 'lab-init', message, fraction: fraction ?? null });
			const line = `${fraction === undefined ? '' : `[${String(Math.round(fraction * 100)).padStart(3)}%] `}${message}`;
			if (line !== lastLine) output.say(line);
			lastLine = line;
		},
	});
	output.say('Checking which accelerator runs the lab guest (KVM only where it really runs guests)…');
	const verdict = await detectAccelerator({ cacheDir: labPaths(paths).cache, probeImage: summary.guestImage });
	output.say(`Accelerator: ${verdict.accel.toUpperCase()} — ${verdict.reason}`);
	output.emit({ type: 'result', ok: true, ...summary, accelerator: verdict.accel, acceleratorReason: verdict.reason });
	output.say(`Lab ready in ${formatDuration((performance.now() - began) / 1000)}: ${summary.vms.length} VMs, ${summary.restorePoints} restore points in ${summary.destination}.`);
	for (const warning of summary.warnings) output.say(`warning: ${warning}`);
	return 0;
}
