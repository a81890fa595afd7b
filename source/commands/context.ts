// What every headless command needs: resolved paths, the host, the engine, and how to
// print (human text, listr2's renderers, or NDJSON with --json).
import { labPaths, resolvePaths, type Paths } from '../core/paths.ts';
import { defaultHostSpec, openHost } from '../hosts/registry.ts';
import { Engine, type EngineEvent } from '../restore/engine.ts';

export interface GlobalOptions {
	host?: string;
	destination?: string;
	stateDir?: string;
	dataDir?: string;
	cacheDir?: string;
	json?: boolean;
}

export interface CommandContext {
	paths: Paths;
	engine: Engine;
	json: boolean;
	/** Writes one NDJSON line (with --json) — the only thing on stdout in that mode. */
	emit(record: Record<string, unknown>): void;
	/** Human text on stdout (suppressed with --json). */
	say(text: string): void;
	/** Warnings and notes on stderr, in both modes. */
	warn(text: string): void;
}

export function resolveDestination(options: GlobalOptions, paths: Paths): string {
	return options.destination ?? process.env.RUNDIRECT_DESTINATION ?? labPaths(paths).destination;
}

export function globalPaths(options: GlobalOptions): Paths {
	return resolvePaths({ state: options.stateDir, data: options.dataDir, cache: options.cacheDir });
}

export async function openContext(options: GlobalOptions): Promise<CommandContext> {
	const paths = globalPaths(options);
	const host = await openHost(options.host ?? defaultHostSpec(), paths);
	const engine = new Engine({ host, stateDir: paths.state, destination: resolveDestination(options, paths) });
	const json = options.json === true;
	const context: CommandContext = {
		paths,
		engine,
		json,
		emit: (record) => {
			if (json) process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`);
		},
		say: (text) => {
			if (!json) process.stdout.write(`${text}\n`);
		},
		warn: (text) => {
			process.stderr.write(`${text}\n`);
		},
	};
	engine.on('event', (event: EngineEvent) => {
		if (json) {
			// Whole session records are large and repeat every step: NDJSON carries the state changes.
			if (event.type === 'session') context.emit({ type: 'session', id: event.session.id, vm: event.session.vm, state: event.session.state });
			else context.emit({ ...event });
		} else if (event.type === 'warning') {
			context.warn(`warning: ${event.message}`);
		}
	});
	return context;
}

/** listr2's own renderer on a terminal, its simple renderer on a pipe, none with --json. */
export function rendererFor(context: CommandContext): 'default' | 'simple' | 'silent' {
	if (context.json) return 'silent';
	return process.stdout.isTTY ? 'default' : 'simple';
}

/** For a tree of many VMs (drills, plans): on a terminal the finished tree — every VM's steps and times — stays on screen. */
export function planTreeRenderer(context: CommandContext): { renderer: 'default' | 'simple' | 'silent'; rendererOptions: { collapseSubtasks: false; collapseSkips: false } | undefined } {
	const renderer = rendererFor(context);
	return { renderer, rendererOptions: renderer === 'default' ? { collapseSubtasks: false, collapseSkips: false } : undefined };
}
