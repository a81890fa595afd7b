#!/usr/bin/env -S node --max-semi-space-size=2
// Launcher. Runs rundirect on Node >= 22.13: when started by an older system Node it
// re-executes itself with the Node 22 that the `node` devDependency installs.
//
// The TypeScript sources run as one prebuilt ESM bundle (dist/cli.js, rebuilt by esbuild in
// ~50 ms whenever a source file is newer) with Node's compile cache: a console over SSH then
// draws its first frame in about half the time a run-time compiler (tsx) needs. tsx remains the
// fallback when the bundle cannot be built. The small V8 young generation (shebang flag) keeps a
// long-lived console's memory low at a negligible GC cost.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import module from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

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

const entry = join(root, 'cli.tsx');
const bundle = join(root, 'dist', 'cli.js');

/** Newest modification time among the sources the bundle is built from. */
function newestSource() {
	let newest = statSync(entry).mtimeMs;
	const walk = (dir) => {
		for (const item of readdirSync(dir, { withFileTypes: true })) {
			const full = join(dir, item.name);
			if (item.isDirectory()) walk(full);
			else if (/\.tsx?$/.test(item.name)) newest = Math.max(newest, statSync(full).mtimeMs);
		}
	};
	walk(join(root, 'source'));
	return newest;
}

async function freshBundle() {
	if (process.env.RUNDIRECT_NO_BUNDLE) return null;
	try {
		if (existsSync(bundle) && statSync(bundle).mtimeMs >= newestSource()) return bundle;
		const { build } = await import('esbuild');
		const result = await build({
			entryPoints: [entry],
			bundle: true,
			platform: 'node',
			format: 'esm',
			target: 'node22',
			packages: 'external',
			jsx: 'automatic',
			write: false,
			logLevel: 'silent',
		});
		mkdirSync(dirname(bundle), { recursive: true });
		// Written aside and renamed: two launchers building at once never see half a file.
		const temporary = `${bundle}.${process.pid}.tmp`;
		writeFileSync(temporary, result.outputFiles[0].contents);
		renameSync(temporary, bundle);
		return bundle;
	} catch {
		return null;
	}
}

const built = await freshBundle();
if (built) {
	module.enableCompileCache?.();
	await import(pathToFileURL(built).href);
} else {
	const { register } = await import('tsx/esm/api');
	register();
	await import(pathToFileURL(entry).href);
}
