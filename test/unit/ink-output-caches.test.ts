// The launcher's change to Ink's output buffer (bin/ink-output-caches.js): it must still apply to
// the Ink installed (an upgrade of another shape is noticed here, not as a slower console), and
// Ink's Output with it must draw exactly what it draws without it, while keeping its caches
// from one frame to the next, bounded.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inkOutputCachesPlugin, shareInkOutputCaches } from '../../bin/ink-output-caches.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const OUTPUT_JS = path.join(REPO, 'node_modules', 'ink', 'build', 'output.js');

interface OutputLike {
	caches: { styledChars: Map<string, unknown> };
	write(x: number, y: number, text: string, options: { transformers: Array<(line: string, index: number) => string> }): void;
	get(): { output: string; height: number };
}
type OutputClass = new (options: { width: number; height: number }) => OutputLike;

let scratch = '';

/** Ink's output.js bundled on its own, with the launcher's plugin or without it. */
async function bundledOutput(shared: boolean): Promise<OutputClass> {
	const outfile = path.join(scratch, shared ? 'shared.mjs' : 'plain.mjs');
	await build({
		entryPoints: [OUTPUT_JS],
		outfile,
		bundle: true,
		platform: 'node',
		format: 'esm',
		logLevel: 'silent',
		// The launcher's own plugin.
		plugins: shared ? [inkOutputCachesPlugin()] : [],
	});
	return ((await import(pathToFileURL(outfile).href)) as { default: OutputClass }).default;
}

/** A frame of a few styled lines, a wide character and a clipped write, as Ink's renderer writes them. */
function frame(Output: OutputClass, cursorRow: number): string {
	const output = new Output({ width: 30, height: 6 });
	output.write(0, 0, '\u001b[1mrundirect\u001b[22m │ host lab', { transformers: [] });
	for (let row = 1; row < 5; row++) output.write(1, row, `${row === cursorRow ? '›' : ' '} vm${row} 10 pts 漢字 \u001b[32m●\u001b[39m`, { transformers: [] });
	output.write(25, 5, 'a line cut at the edge of the frame', { transformers: [(line) => `\u001b[2m${line}\u001b[22m`] });
	return output.get().output;
}

beforeAll(async () => {
	scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-ink-output-'));
});
afterAll(async () => {
	await fs.rm(scratch, { recursive: true, force: true });
});

describe("Ink's output caches kept across frames", () => {
	it('applies to the installed Ink, and only once', async () => {
		const source = await fs.readFile(OUTPUT_JS, 'utf8');
		const changed = shareInkOutputCaches(source);
		expect(changed).not.toBeNull();
		expect(changed).toContain('caches = rundirectSharedOutputCaches();');
		expect(changed).not.toContain('caches = new OutputCaches();');
		// Another shape (the line it replaces gone): bundled as it is.
		expect(shareInkOutputCaches(source.replace('caches = new OutputCaches();', 'caches = makeCaches();'))).toBeNull();
	});

	it('draws every frame exactly as Ink does without it, with one cache for all frames', async () => {
		const [plain, shared] = await Promise.all([bundledOutput(false), bundledOutput(true)]);
		for (const cursorRow of [1, 2, 1, 3, 4, 4]) expect(frame(shared, cursorRow)).toBe(frame(plain, cursorRow));
		expect(new shared({ width: 1, height: 1 }).caches).toBe(new shared({ width: 1, height: 1 }).caches);
		expect(new plain({ width: 1, height: 1 }).caches).not.toBe(new plain({ width: 1, height: 1 }).caches);
	});

	it('starts over past a few thousand strings (progress lines are new every second)', async () => {
		const shared = await bundledOutput(true);
		for (let tick = 0; tick < 6000; tick++) {
			const output = new shared({ width: 40, height: 1 });
			output.write(0, 0, `copy ${tick} of 6000 MiB`, { transformers: [] });
			output.get();
		}
		const size = new shared({ width: 1, height: 1 }).caches.styledChars.size;
		expect(size).toBeGreaterThan(0);
		expect(size).toBeLessThan(4096);
	});
});
