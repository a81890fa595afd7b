// Mounts the console on a terminal: the composition root of the TUI (cli.tsx calls it only
// when stdin and stdout are TTYs and --json is not given). It wires the store to the engine,
// offers `lab init` when the lab host has no lab, and on quit stops waiting for this
// console's operations — the VMs and copies on the host go on (DESIGN §3.4).
import fs from 'node:fs/promises';
import React from 'react';
import { render } from 'ink';
import App from '../app.tsx';
import type { CommandContext } from '../commands/context.ts';
import { labPaths } from '../paths.ts';
import { ConsoleStore, type LabSetup } from './store.ts';

/** Building the lab from the console: the same builder as `rundirect lab init`. */
function labSetupFor(context: CommandContext): LabSetup | undefined {
	if (context.engine.host.kind !== 'lab') return undefined;
	const lab = labPaths(context.paths);
	// Only the lab's own sample destination can be built; a --destination elsewhere is the user's.
	if (context.engine.destination !== lab.destination) return undefined;
	return {
		needed: () => fs.access(lab.destination).then(() => false, () => true),
		async run(onProgress) {
			const { initLab } = await import('../lab/init.ts');
			const { detectAccelerator } = await import('../hosts/lab/accel.ts');
			const summary = await initLab(context.paths, { onProgress });
			onProgress('Checking which accelerator runs the lab guest', 1);
			await detectAccelerator({ cacheDir: lab.cache, probeImage: summary.guestImage });
		},
	};
}

export async function runConsole(context: CommandContext): Promise<number> {
	// The headless context prints engine warnings on stderr; under Ink that would tear the
	// frame. The store shows them in the status line instead.
	context.engine.removeAllListeners('event');
	const store = new ConsoleStore(context.engine, { labSetup: labSetupFor(context) });
	const instance = render(<App store={store} />, {
		alternateScreen: true,
		// Ctrl+C goes through the app's quit (which asks when an operation would be interrupted).
		exitOnCtrlC: false,
		incrementalRendering: true,
		maxFps: 60,
	});
	// An SSH disconnect (SIGHUP) or a kill must end the console, not leave it drawing to nowhere;
	// cli.tsx's own handlers only abort headless waits.
	const end = (): void => instance.unmount();
	const signals = ['SIGHUP', 'SIGTERM', 'SIGINT'] as const;
	for (const signal of signals) process.on(signal, end);
	void store.open();
	try {
		await instance.waitUntilExit();
	} finally {
		for (const signal of signals) process.off(signal, end);
		await store.close();
	}
	return 0;
}
