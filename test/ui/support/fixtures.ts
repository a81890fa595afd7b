// A temp backup destination and state folder for the console's component tests, with the
// real Engine over the in-memory host, and helpers to drive ink-testing-library frames.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../../../source/restore/engine.ts';
import { ConsoleStore } from '../../../source/ui/store.ts';
import { MemoryHost, type MemoryHostOptions } from './memory-host.ts';

export interface PointSpec {
	vm: string;
	points: number;
	disks?: number;
}

/** Writes `<dir>/<vm>/<id>/restore-point.json` plus tiny disk files (the catalog checks they are non-empty). */
export async function writeDestination(dir: string, specs: PointSpec[]): Promise<void> {
	for (const spec of specs) {
		for (let index = 0; index < spec.points; index++) {
			const day = new Date(Date.UTC(2026, 10, 24, 1, 0) - index * 3_600_000);
			const id = day.toISOString().replace(/[-:]/g, '').slice(0, 13).replace(/^(\d{4})(\d{2})(\d{2})/, '$1-$2-$3') + 'Z';
			const pointDir = path.join(dir, spec.vm, id);
			await fs.mkdir(pointDir, { recursive: true });
			const disks = Array.from({ length: spec.disks ?? 1 }, (_, disk) => ({ controller: 'virtio', controllerNumber: 0, location: disk, file: `disk${disk}.qcow2`, format: 'qcow2', virtualSize: 64 * 2 ** 20 }));
			for (const disk of disks) await fs.writeFile(path.join(pointDir, disk.file), 'QFI\xfb fake');
			await fs.writeFile(
				path.join(pointDir, 'restore-point.json'),
				JSON.stringify({
					schemaVersion: 1,
					id,
					takenAt: day.toISOString().replace('.000Z', 'Z'),
					vm: { name: spec.vm, id: '0f8fad5b-d9cb-469f-a165-70867728950e', generation: 1, firmware: 'bios', cpus: 1, memoryMiB: 256, nics: [] },
					disks,
				}),
			);
		}
	}
}

export interface Fixture {
	root: string;
	host: MemoryHost;
	engine: Engine;
	store: ConsoleStore;
	cleanup(): Promise<void>;
}

export async function createFixture(specs: PointSpec[], hostOptions: MemoryHostOptions = {}): Promise<Fixture> {
	const root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-ui-'));
	const destination = path.join(root, 'destination');
	await fs.mkdir(destination, { recursive: true });
	await writeDestination(destination, specs);
	const host = new MemoryHost(hostOptions);
	const engine = new Engine({ host, stateDir: path.join(root, 'state'), destination });
	const store = new ConsoleStore(engine, { pollMs: 200, notifyMs: 20, screenMs: 200 });
	return {
		root,
		host,
		engine,
		store,
		async cleanup() {
			await store.close();
			await fs.rm(root, { recursive: true, force: true });
		},
	};
}

/** Polls `lastFrame()` until `predicate` holds; fails with the last frame after `timeoutMs`. */
export async function waitForFrame(lastFrame: () => string | undefined, predicate: (frame: string) => boolean, timeoutMs = 15_000): Promise<string> {
	const deadline = Date.now() + timeoutMs;
	let frame = '';
	while (Date.now() < deadline) {
		frame = lastFrame() ?? '';
		if (predicate(frame)) return frame;
		await new Promise((resolve) => setTimeout(resolve, 15));
	}
	throw new Error(`timed out after ${timeoutMs} ms; last frame:\n${frame}`);
}

export const tick = (ms = 30): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** What a test types into a rendered app (ink-testing-library's stdin) and reads back from its frames. */
export interface Keyboard {
	frame: () => string;
	/** Types keys one write at a time, letting the app commit between them. */
	press: (...keys: string[]) => Promise<void>;
	/**
	 * Presses `key` until a frame shows `predicate` (at most 3 presses, each given 5 s): on a loaded
	 * machine a key written while Ink re-renders can be lost; the condition, not a delay, decides.
	 */
	pressUntil: (key: string, predicate: (text: string) => boolean) => Promise<string>;
}

export function keyboard(app: () => { stdin: { write(data: string): unknown }; lastFrame(): string | undefined } | undefined): Keyboard {
	const frame = (): string => app()?.lastFrame() ?? '';
	const press = async (...keys: string[]): Promise<void> => {
		for (const key of keys) {
			app()?.stdin.write(key);
			await tick(40);
		}
	};
	const pressUntil = async (key: string, predicate: (text: string) => boolean): Promise<string> => {
		for (let attempt = 1; ; attempt++) {
			await press(key);
			try {
				return await waitForFrame(frame, predicate, attempt < 3 ? 5_000 : 15_000);
			} catch (error) {
				if (attempt >= 3) throw error;
			}
		}
	};
	return { frame, press, pressUntil };
}

export const KEYS = {
	up: '\u001B[A',
	down: '\u001B[B',
	right: '\u001B[C',
	left: '\u001B[D',
	enter: '\r',
	escape: '\u001B',
	tab: '\t',
	backspace: '\u007F',
} as const;

/** The lab's sample destination in miniature: db01 with two disks, files01, web01 with three points. */
export const SAMPLE_DESTINATION: PointSpec[] = [
	{ vm: 'db01', points: 2, disks: 2 },
	{ vm: 'files01', points: 2 },
	{ vm: 'web01', points: 3 },
];
