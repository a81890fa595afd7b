// Installs what rundirect needs on a fresh machine, then gets out of the way. Plain
// JavaScript that runs on any Node (a fresh Debian ships Node 20): npm packages (which bring
// the pinned Node 22 the project runs on), and QEMU plus the tools the lab image build needs
// via apt-get when run as root on Debian/Ubuntu — otherwise it prints the exact command.
// `--pwsh`: PowerShell 7 as a .NET tool (when `dotnet` is on PATH), for the Hyper-V tests.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
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
	// UEFI firmware for generation 2 restore points (a file, not a program: `command -v` finds it by path).
	['/usr/share/OVMF/OVMF_CODE_4M.fd', 'ovmf'],
	// The libvirt host (and its tests, which start a private libvirtd; getfattr compares xattrs).
	['virsh', 'libvirt-clients'],
	['libvirtd', 'libvirt-daemon-system'],
	['getfattr', 'attr'],
	// The Debian guest (`lab init --with-debian`, and its tests): built from Debian's packages, no loop mounts.
	['debootstrap', 'debootstrap'],
	['sfdisk', 'fdisk'],
	['mkfs.ext4', 'e2fsprogs'],
	// Drills with TCP checks: the network namespace, taps and the probe's `ip netns exec`.
	['ip', 'iproute2'],
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

/** The only PowerShell version the NuGet registry serves this project; test/hyperv/pwsh.ts looks here too. */
const PWSH_VERSION = '7.6.9';

function pwshToolDir() {
	const cache = process.env.XDG_CACHE_HOME && isAbsolute(process.env.XDG_CACHE_HOME) ? process.env.XDG_CACHE_HOME : join(homedir(), '.cache');
	return join(cache, 'rundirect', `pwsh-${PWSH_VERSION}`);
}

function ensurePowerShell() {
	const dir = pwshToolDir();
	if (onPath('pwsh') || existsSync(join(dir, 'pwsh'))) return;
	if (!onPath('dotnet')) {
		console.log('rundirect setup: no dotnet here, so no pwsh: the Hyper-V PowerShell tests will be skipped');
		return;
	}
	console.log(`rundirect setup: installing PowerShell ${PWSH_VERSION} (dotnet tool) into ${dir}…`);
	mkdirSync(dir, { recursive: true });
	const result = spawnSync('dotnet', ['tool', 'install', 'PowerShell', '--version', PWSH_VERSION, '--tool-path', dir], { stdio: 'inherit', cwd: dir });
	// Not fatal: without pwsh the PowerShell tests are skipped and say so.
	if (result.status !== 0) console.error(`rundirect setup: installing PowerShell failed (exit ${result.status}): the Hyper-V PowerShell tests will be skipped`);
}

if (process.argv.includes('--pwsh')) ensurePowerShell();
else {
	// --system: only the Debian packages (CI runs `npm ci` itself right after).
	if (!process.argv.includes('--system')) ensureNpmPackages();
	ensureSystemPackages();
}
