// Installs what rundirect needs on a fresh machine, then gets out of the way. Plain
// JavaScript that runs on any Node (a fresh Debian ships Node 20): npm packages (which bring
// the pinned Node 22 the project runs on), and QEMU plus the tools the lab image build needs
// via apt-get when run as root on Debian/Ubuntu — otherwise it prints the exact command.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Binary on PATH → Debian package that provides it. */
const SYSTEM_NEEDS = [
	['qemu-system-x86_64', 'qemu-system-x86'],
	['qemu-img', 'qemu-utils'],
	['mformat', 'mtools'],
	['dpkg-deb', 'dpkg'],
	['xz', 'xz-utils'],
	['zstd', 'zstd'],
	['tmux', 'tmux'],
	['virsh', 'libvirt-clients'],
	['libvirtd', 'libvirt-daemon-system'],
	['getfattr', 'attr'],
];

function run(command, args, options = {}) {
	const result = spawnSync(command, args, { stdio: 'inherit', cwd: root, ...options });
	if (result.error) throw result.error;
	if (result.status !== 0) {
		console.error(`rundirect setup: "${command} ${args.join(' ')}" failed with exit code ${result.status}`);
		process.exit(result.status ?? 1);
	}
}

function onPath(binary) {
	return spawnSync('sh', ['-c', `command -v "$1"`, 'sh', binary], { stdio: 'ignore' }).status === 0;
}

function ensureNpmPackages() {
	const marker = join(root, 'node_modules', '.package-lock.json');
	const lock = join(root, 'package-lock.json');
	const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs + 1000);
	if (!stale && existsSync(join(root, 'node_modules', 'node', 'bin', 'node'))) return;
	console.log('rundirect setup: installing npm packages…');
	run('npm', existsSync(lock) ? ['ci', '--no-audit', '--no-fund'] : ['install', '--no-audit', '--no-fund']);
}

function ensureSystemPackages() {
	if (process.platform !== 'linux') return;
	const missing = [...new Set(SYSTEM_NEEDS.filter(([binary]) => !onPath(binary)).map(([, pkg]) => pkg))];
	if (missing.length === 0) return;
	const command = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
	const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
	if (!isRoot || !onPath('apt-get')) {
		console.error(`rundirect needs ${missing.join(', ')} for the lab host. Install them with:\n  sudo sh -c '${command}'`);
		process.exit(1);
	}
	console.log(`rundirect setup: installing ${missing.join(', ')} with apt-get…`);
	const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
	run('apt-get', ['update', '-q'], { env });
	run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { env });
}

// --system: only the Debian packages (CI runs `npm ci` itself right after).
if (!process.argv.includes('--system')) ensureNpmPackages();
ensureSystemPackages();
