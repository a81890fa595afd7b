// `npm start`: set up what is missing, build the lab if it does not exist yet, then open
// rundirect on the lab host. Plain JavaScript so it runs on the system's Node before the
// project's Node 22 is installed.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const node = process.execPath;

function step(args) {
	const result = spawnSync(node, args, { stdio: 'inherit', cwd: root });
	if (result.status !== 0) process.exit(result.status ?? 1);
}

step([join(root, 'scripts', 'ensure.mjs')]);
const cli = join(root, 'bin', 'rundirect.js');
const extra = process.argv.slice(2);
step([cli, '--host', 'lab', 'lab', 'init']);
// The same V8 flag as bin/rundirect.js's shebang: a long-lived console stays small.
step(['--max-semi-space-size=2', cli, '--host', 'lab', ...extra]);
