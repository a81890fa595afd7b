// Mounts the console on a terminal: the composition root of the TUI, called only when stdin
// and stdout are TTYs and --json is not given — straight from the command line by
// source/main.ts (launchConsole), or by cli.tsx with a context it opened (runConsole). It
// wires the store to the engine, offers `lab init` when the lab host has no lab, and on quit
// stops waiting for this console's operations — the VMs and copies on the host go on
// (DESIGN §3.4).
//
// launchConsole draws the first frame (header, panes saying "loading…") before the engine,
// the hosts and their packages (zod, listr2, execa) are even loaded: on a small machine that
// is a good part of the launch time. Everything here is imported only for types, or light.
import module from 'node:module';
import { render, type Instance } from 'ink';
import App from '../app.tsx';
import type { CommandContext, GlobalOptions } from '../commands/context.ts';
import { onInterrupt } from '../core/interrupts.ts';
import { reportError } from '../core/report.ts';
import { canProvision } from '../hosts/capabilities.ts';
import { ConsoleStore, type LabSetup } from './store.ts';

/** Building the lab from the console: the host's provisioning, as `rundirect lab init`. */
function labSetupFor(context: CommandContext): LabSetup | undefined {
	const host = context.engine.host;
	if (!canProvision(host)) return undefined;
	// Only the host's own sample destination can be built; a --destination elsewhere is the user's.
	if (context.engine.destination !== host.sampleDestination) return undefined;
	return {
		needed: () => host.provisionNeeded(),
		async run(onProgress) {
			await host.provision({ onProgress });
		},
	};
}

/** The console on a context cli.tsx opened (and closes). */
export async function runConsole(context: CommandContext): Promise<number> {
	// The headless context prints engine warnings on stderr; under Ink that would tear the
	// frame. The store shows them in the status line instead.
	context.engine.removeAllListeners('event');
	const store = new ConsoleStore(context.engine, { labSetup: labSetupFor(context) });
	const instance = mount(store);
	// An SSH disconnect (SIGHUP) or a kill must end the console, not leave it drawing to nowhere.
	const stopListening = onInterrupt(() => instance.unmount());
	void store.open();
	try {
		await instance.waitUntilExit();
	} finally {
		stopListening();
		await store.close();
	}
	return 0;
}

/**
 * The console straight from the command line (no command, only global options): the first
 * frame first, then the engine and the host, then the data. Opens and closes its own context.
 */
export async function launchConsole(options: GlobalOptions): Promise<number> {
	let resolveContext!: (context: CommandContext) => void;
	const contextReady = new Promise<CommandContext>((resolve) => {
		resolveContext = resolve;
	});
	const store = new ConsoleStore(
		contextReady.then((context) => context.engine),
		{ labSetup: deferredLabSetup(contextReady) },
	);
	const instance = mount(store);
	// The first signal ends the console; a second one (while quitting waits for this console's
	// operations) ends the process.
	const stopListening = onInterrupt(() => instance.unmount());
	try {
		// Let Ink write the first frame before module loading and evaluation hold the thread.
		await new Promise((resolve) => setTimeout(resolve, 0));
		let context: CommandContext;
		try {
			const { openContext } = await import('../commands/context.ts');
			context = await openContext(options);
		} catch (error) {
			// The context cannot be opened (an unknown host, say): the same report as a command's.
			instance.unmount();
			await instance.waitUntilExit().catch(() => undefined);
			return reportError(error, { json: false });
		}
		context.engine.removeAllListeners('event');
		resolveContext(context);
		// What the launcher's compile cache holds is written at exit; a console that is killed, or
		// runs for days, would leave the next launch compiling the bundle again. Written now, once
		// the engine's chunks are loaded too.
		module.flushCompileCache?.();
		void store.open();
		try {
			await instance.waitUntilExit();
		} finally {
			await store.close();
			await context.engine.close();
		}
		return 0;
	} finally {
		stopListening();
	}
}

/** After a hang-up the terminal is gone and writes fail: that must not crash the console before it lets go of its operations (their locks). */
function ignoreGoneTerminal(error: NodeJS.ErrnoException): void {
	if (error.code !== 'EIO' && error.code !== 'EPIPE' && error.code !== 'ENXIO') throw error;
}

function mount(store: ConsoleStore): Instance {
	for (const stream of [process.stdout, process.stderr]) if (!stream.listeners('error').includes(ignoreGoneTerminal)) stream.on('error', ignoreGoneTerminal);
	return render(<App store={store} />, {
		alternateScreen: true,
		// Ctrl+C goes through the app's quit (which asks when an operation would be interrupted).
		exitOnCtrlC: false,
		incrementalRendering: true,
		maxFps: 60,
	});
}


/** The lab setup of a context that is still being opened. */
function deferredLabSetup(contextReady: Promise<CommandContext>): LabSetup {
	const setup = contextReady.then(labSetupFor);
	setup.catch(() => undefined);
	return {
		needed: async () => (await setup)?.needed() ?? false,
		async run(onProgress) {
			const ready = await setup;
			if (!ready) throw new Error('this host has no lab to build');
			await ready.run(onProgress);
		},
	};
}

