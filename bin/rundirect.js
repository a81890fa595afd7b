#!/usr/bin/env -S node --max-semi-space-size=2
// Launcher. Runs rundirect on Node >= 22.13: when started by an older system Node it
// re-executes itself with the Node 22 that the `node` devDependency installs.
//
// The TypeScript sources run as a prebuilt ESM bundle (dist/<stamp>/main.js plus lazily
// loaded chunks, rebuilt by esbuild whenever a source file changes) with Node's compile cache:
// a console over SSH then draws its first frame in a fraction of the time a run-time compiler
// (tsx) needs. Ink and React are bundled in (their production builds, one file instead of
// hundreds of modules Node would resolve and lex one by one); the other packages load from
// node_modules when used. tsx remains the fallback when the bundle cannot be built. The small
// V8 young generation (shebang flag) keeps a long-lived console's memory low at a negligible
// GC cost.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import module from 'node:module';
import v8 from 'node:v8';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { inkOutputCachesPlugin } from './ink-output-caches.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 13)) {
	const bundled = join(root, 'node_modules', 'node', 'bin', 'node');
	if (!existsSync(bundled)) {
		console.error(`rundirect needs Node.js >= 22.13 (this is ${process.version}); run "npm install" in ${root} to get one, or install Node 22.`);
		process.exit(2);
	}
	const result = spawnSync(bundled, ['--max-semi-space-size=2', fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
	process.exit(result.status ?? 1);
}

// A long-lived console allocates a steady stream of short-lived objects (every frame, every
// progress event); with the small young generation many are promoted, and V8's default heap
// growth lets the old generation fill with that garbage (a 1 GiB copy: +60 MiB RSS) before it
// collects. Optimising for size collects it at a much smaller heap (the console's peak RSS in
// bench/console.ts: ≈ 190 → ≈ 135 MiB) for a few ms of incremental marking now and then. Set here rather than in the
// shebang, so that `node bin/rundirect.js` (tests, npm scripts) runs the same way.
v8.setFlagsFromString('--optimize-for-size');

const entry = join(root, 'source', 'main.ts');
const dist = join(root, 'dist');
/** Packages bundled in (the console's first frame needs them); every other package stays external. */
const BUNDLED = /^(ink|ink-[\w-]+|react|react-reconciler|scheduler|yoga-layout)(\/|$)/;

/**
 * Names the sources' state: the newest modification time among the sources (and the files
 * they read, such as the Hyper-V scripts), their folders (a file added or removed), this
 * launcher (the build options) and the change it makes to Ink.
 */
function sourceStamp() {
	let newest = Math.max(statSync(join(root, 'cli.tsx')).mtimeMs, statSync(fileURLToPath(import.meta.url)).mtimeMs, statSync(join(root, 'bin', 'ink-output-caches.js')).mtimeMs);
	const walk = (dir) => {
		newest = Math.max(newest, statSync(dir).mtimeMs);
		for (const item of readdirSync(dir, { withFileTypes: true })) {
			const full = join(dir, item.name);
			if (item.isDirectory()) walk(full);
			else newest = Math.max(newest, statSync(full).mtimeMs);
		}
	};
	walk(join(root, 'source'));
	return Math.floor(newest).toString(36);
}

async function freshBundle() {
	if (process.env.RUNDIRECT_NO_BUNDLE) return null;
	let temporary = null;
	try {
		// One folder per state of the sources, never changed once renamed into place: a console
		// that loads a chunk minutes after starting finds the chunk of its own build even when
		// another launcher has built a newer one meanwhile.
		const out = join(dist, sourceStamp());
		const main = join(out, 'main.js');
		if (existsSync(main)) return main;
		const { build } = await import('esbuild');
		temporary = join(dist, `.build-${process.pid}-${Date.now()}`);
		mkdirSync(temporary, { recursive: true });
		await build({
			entryPoints: [entry],
			outdir: temporary,
			bundle: true,
			splitting: true,
			platform: 'node',
			format: 'esm',
			target: 'node22',
			jsx: 'automatic',
			// Minified: V8 keeps every loaded chunk's source in memory (lazy compilation needs it), and a
			// comment with one non-ASCII character doubled a chunk's size there (two-byte string): the
			// console's peak RSS fell by ≈ 6 MiB. Names kept (`name` of functions and classes); with
			// RUNDIRECT_DEBUG stack traces map back to the sources through the linked source maps.
			minify: true,
			keepNames: true,
			sourcemap: 'linked',
			// React's production build (no development checks): the console's renders are its hot path.
			// No `fetch` in the bundle: yoga-layout's loader would fetch its own inlined wasm through it,
			// and Node's fetch (undici) costs the first frame ≈ 40 ms to load; without it the loader
			// decodes the same bytes directly. ESLint keeps `fetch` out of the sources.
			define: { 'process.env.NODE_ENV': '"production"', fetch: 'undefined' },
			// Bundled CommonJS (react, react-reconciler) may require Node's built-ins.
			banner: { js: "import { createRequire as __rundirectRequire } from 'node:module'; const require = __rundirectRequire(import.meta.url);" },
			plugins: [
				{
					name: 'bundle-only-the-ui',
					setup(context) {
						context.onResolve({ filter: /^[^./]/ }, (args) => {
							if (args.path.startsWith('node:')) return { external: true };
							// From our sources: the UI's packages are bundled, others load from node_modules.
							// From inside a bundled package: its dependencies come along (only Ink's optional
							// devtools, absent here, stays out).
							// (By path segment, not by prefix: node_modules may be a symlink, and esbuild reports real paths.)
							const fromPackage = args.importer.split(sep).includes('node_modules');
							if (args.path === 'react-devtools-core') return { external: true };
							if (fromPackage || BUNDLED.test(args.path)) return undefined;
							return { external: true };
						});
					},
				},
				// Ink's per-frame caches, kept across frames.
				inkOutputCachesPlugin(),
			],
			logLevel: 'silent',
		});
		// Read at run time from beside the code (source/hosts/hyperv/scripts.ts looks in ./scripts/).
		cpSync(join(root, 'source', 'hosts', 'hyperv', 'scripts'), join(temporary, 'scripts'), { recursive: true });
		try {
			renameSync(temporary, out);
		} catch (error) {
			// Another launcher built the same sources first: use theirs.
			rmSync(temporary, { recursive: true, force: true });
			if (!existsSync(main)) throw error;
		}
		prune(out);
		return main;
	} catch {
		if (temporary) rmSync(temporary, { recursive: true, force: true });
		return null;
	}
}

/** Keeps the two builds before this one (a running console may still load chunks from its own) and drops the rest. */
function prune(current) {
	try {
		const entries = readdirSync(dist).map((name) => ({ name, full: join(dist, name) }));
		const others = entries
			.filter(({ name, full }) => full !== current && !name.startsWith('.build-'))
			.map((entry) => ({ ...entry, mtime: statSync(entry.full).mtimeMs }))
			.sort((a, b) => b.mtime - a.mtime);
		for (const { full } of others.slice(2)) rmSync(full, { recursive: true, force: true });
		// Folders of builds that died half-way (another launcher may be building in its own now).
		for (const { name, full } of entries) {
			if (name.startsWith('.build-') && Date.now() - statSync(full).mtimeMs > 10 * 60_000) rmSync(full, { recursive: true, force: true });
		}
	} catch {
		// A concurrent launcher pruned the same folder: nothing to do.
	}
}

const built = await freshBundle();
if (built) {
	module.enableCompileCache?.();
	if (process.env.RUNDIRECT_DEBUG) process.setSourceMapsEnabled(true);
	await import(pathToFileURL(built).href);
} else {
	const { register } = await import('tsx/esm/api');
	register();
	await import(pathToFileURL(entry).href);
}
