#!/usr/bin/env node
// Launcher: runs cli.tsx through tsx on Node >= 22.13. When started by an older system Node,
// it re-executes itself with the Node 22 that the `node` devDependency installs.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 13)) {
	const bundled = join(root, 'node_modules', 'node', 'bin', 'node');
	if (!existsSync(bundled)) {
		console.error(`rundirect needs Node.js >= 22.13 (this is ${process.version}); run "npm install" in ${root} to get one, or install Node 22.`);
		process.exit(2);
	}
	const result = spawnSync(bundled, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
	process.exit(result.status ?? 1);
}
const { register } = await import('tsx/esm/api');
register();
await import(pathToFileURL(join(root, 'cli.tsx')).href);
