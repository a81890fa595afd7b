// A private libvirtd (+ virtlogd) for one test file, so the tests never touch the machine's own
// libvirt. It runs as root in a mount namespace of its own where temp folders are bound over
// /etc/libvirt, /run, /var/lib/libvirt, /var/log/libvirt and /var/cache/libvirt: its
// configuration, sockets, domain definitions and logs all live under one temp dir, and nothing
// outside sees them. Clients reach it through its socket (`qemu+unix:///system?socket=…`).
//
// qemu.conf gets `user = "+0"`: with the default libvirt-qemu user, a machine whose /dev/kvm is
// root-only makes libvirt re-probe QEMU on almost every call (a `virsh create` took ~70 s).
// Everything it starts is ended by pid in `stop()`.
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

export interface PrivateLibvirtd {
	/** The temp dir holding everything of this daemon. */
	readonly root: string;
	/** The URI every test passes to the driver. */
	readonly uri: string;
	/** With `{ tcp: true }`: qemu+tcp on loopback (no authentication), a remote URI to the same daemon. */
	readonly tcpUri: string | null;
	libvirtdPid(): Promise<number | null>;
	/** SIGKILLs libvirtd only (its QEMUs and virtlogd go on) and starts it again on the same state. */
	restart(): Promise<void>;
	/** Ends every QEMU it started, then libvirtd and virtlogd, by pid; removes the temp dir. */
	stop(): Promise<void>;
}

/** Why libvirt tests cannot run on this machine, or null when they can. */
export async function libvirtUnavailable(): Promise<string | null> {
	if (process.platform !== 'linux') return 'libvirt tests need Linux';
	if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'libvirt tests need root (a private libvirtd runs in a mount namespace of its own)';
	for (const binary of ['libvirtd', 'virtlogd', 'virsh', 'unshare', 'qemu-system-x86_64', 'qemu-img']) {
		const found = await execa('sh', ['-c', 'command -v "$1"', 'sh', binary], { reject: false });
		if (found.exitCode !== 0) return `${binary} is not installed (apt-get install libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils)`;
	}
	for (const dir of ['/etc/libvirt', '/var/lib/libvirt', '/var/log/libvirt', '/var/cache/libvirt']) {
		if (!(await fs.stat(dir).then((stat) => stat.isDirectory(), () => false))) return `${dir} is missing: libvirt-daemon-system is not installed properly`;
	}
	return null;
}

const BINDS: Array<[string, string]> = [
	['etc', '/etc/libvirt'],
	['run', '/run'],
	['lib', '/var/lib/libvirt'],
	['log', '/var/log/libvirt'],
	['cache', '/var/cache/libvirt'],
];

const LIBVIRTD_CONF = `log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
unix_sock_dir = "/run/libvirt"
`;

async function readPid(file: string): Promise<number | null> {
	const pid = Number.parseInt(await fs.readFile(file, 'utf8').catch(() => ''), 10);
	return pid > 0 ? pid : null;
}

/** Alive and not a zombie. */
export async function alive(pid: number): Promise<boolean> {
	const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
	if (stat === null) return false;
	return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

async function cmdline(pid: number): Promise<string> {
	return (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' ');
}

async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
	const deadline = Date.now() + timeoutMs;
	while (Date.now() < deadline) {
		if (!(await alive(pid))) return true;
		await new Promise((resolve) => setTimeout(resolve, 25));
	}
	return !(await alive(pid));
}

/** Ends `pid` if it still runs `program` (a reused pid is never hit): SIGTERM, then SIGKILL. */
async function endProcess(pid: number | null, program: string): Promise<void> {
	if (pid === null || !(await alive(pid)) || !(await cmdline(pid)).includes(program)) return;
	try {
		process.kill(pid, 'SIGTERM');
	} catch {
		return;
	}
	if (await waitGone(pid, 5_000)) return;
	try {
		process.kill(pid, 'SIGKILL');
	} catch {
		return;
	}
	await waitGone(pid, 5_000);
}

/** A TCP port nobody listens on right now, on loopback. */
async function freePort(): Promise<number> {
	const server = net.createServer();
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const port = (server.address() as net.AddressInfo).port;
	await new Promise((resolve) => server.close(resolve));
	return port;
}

/**
 * `tcp`: also listen on a loopback port. `network`: a network namespace of its own too, so the
 * bridges of libvirt networks a test defines never touch the machine's (no TCP then, and no restart).
 * `monitorLog`: libvirtd logs its QEMU monitor traffic (commands, replies, events with QEMU's
 * timestamps) at debug level into log/libvirtd.log — what the bench times a pivot by.
 */
export async function startPrivateLibvirtd(options: { tcp?: boolean; network?: boolean; monitorLog?: boolean } = {}): Promise<PrivateLibvirtd> {
	if (options.tcp && options.network) throw new Error('a private network namespace cannot be reached over TCP from outside');
	const port = options.tcp ? await freePort() : null;
	const root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-lv-'));
	for (const [local] of BINDS) await fs.mkdir(path.join(root, local), { recursive: true });
	await fs.mkdir(path.join(root, 'run', 'libvirt'), { recursive: true });
	await fs.cp('/etc/libvirt', path.join(root, 'etc'), { recursive: true });
	// No default network: it needs dnsmasq, and no test needs it.
	await fs.rm(path.join(root, 'etc', 'qemu', 'networks', 'autostart'), { recursive: true, force: true });
	await fs.appendFile(path.join(root, 'etc', 'qemu.conf'), '\nuser = "+0"\ngroup = "+0"\n');
	const tcpConf = port === null ? '' : `listen_tls = 0\nlisten_tcp = 1\nlisten_addr = "127.0.0.1"\ntcp_port = "${port}"\nauth_tcp = "none"\n`;
	const logConf = options.monitorLog ? 'log_filters = "1:qemu.qemu_monitor"\nlog_outputs = "1:file:/var/log/libvirt/libvirtd.log"\n' : '';
	await fs.writeFile(path.join(root, 'etc', 'libvirtd.conf'), (options.monitorLog ? LIBVIRTD_CONF.replace(/^log_outputs.*\n/m, '') : LIBVIRTD_CONF) + logConf + tcpConf);
	await fs.writeFile(path.join(root, 'etc', 'virtlogd.conf'), 'log_outputs = "3:file:/var/log/libvirt/virtlogd.log"\n');
	const socket = path.join(root, 'run', 'libvirt', 'libvirt-sock');
	const uri = `qemu+unix:///system?socket=${socket}`;
	const libvirtdPidFile = path.join(root, 'run', 'libvirt', 'libvirtd.pid');
	const virtlogdPidFile = path.join(root, 'run', 'libvirt', 'virtlogd.pid');
	const mounts = BINDS.map(([local, target]) => `mount --bind ${path.join(root, local)} ${target}`).join(' && ');

	/** libvirtd (and virtlogd the first time) in a fresh namespace over the same folders. */
	const launch = async (withVirtlogd: boolean): Promise<void> => {
		const daemons = `${withVirtlogd ? 'virtlogd -d -p /run/libvirt/virtlogd.pid && ' : ''}exec libvirtd -d ${port === null ? '' : '-l '}-p /run/libvirt/libvirtd.pid -f /etc/libvirt/libvirtd.conf`;
		const namespaces = options.network ? ['-m', '-n'] : ['-m'];
		const up = options.network ? 'ip link set lo up && ' : '';
		await execa('unshare', [...namespaces, '--propagation', 'private', 'sh', '-c', `${up}${mounts} && ${daemons}`], { timeout: 30_000, stdin: 'ignore' });
		// Answering is the condition, not a delay: the first call waits for libvirt's QEMU probe.
		const deadline = Date.now() + 60_000;
		let last = '';
		while (Date.now() < deadline) {
			const probe = await execa('virsh', ['--connect', uri, 'version'], { reject: false, timeout: 60_000 });
			if (probe.exitCode === 0 && /Running hypervisor: QEMU/.test(String(probe.stdout))) return;
			last = String(probe.stderr || probe.stdout).trim();
			await new Promise((resolve) => setTimeout(resolve, 100));
		}
		throw new Error(`the private libvirtd under ${root} does not answer: ${last}; see ${path.join(root, 'log', 'libvirtd.log')}`);
	};

	const daemon: PrivateLibvirtd = {
		root,
		uri,
		tcpUri: port === null ? null : `qemu+tcp://127.0.0.1:${port}/system`,
		libvirtdPid: () => readPid(libvirtdPidFile),
		async restart() {
			if (options.network) throw new Error('a libvirtd with its own network namespace cannot be restarted into it');
			const pid = await readPid(libvirtdPidFile);
			if (pid !== null && (await cmdline(pid)).includes('libvirtd')) {
				process.kill(pid, 'SIGKILL');
				await waitGone(pid, 10_000);
			}
			await fs.rm(libvirtdPidFile, { force: true });
			await launch(false);
		},
		async stop() {
			// QEMUs first (libvirtd leaves them running when it ends): their pid files name them.
			const qemuRun = path.join(root, 'run', 'libvirt', 'qemu');
			for (const name of await fs.readdir(qemuRun).catch(() => [] as string[])) {
				if (!name.endsWith('.pid')) continue;
				const pid = await readPid(path.join(qemuRun, name));
				if (pid === null || !(await cmdline(pid)).includes('qemu-system')) continue;
				try {
					process.kill(pid, 'SIGKILL');
				} catch {
					// already gone
				}
				await waitGone(pid, 5_000);
			}
			await endProcess(await readPid(libvirtdPidFile), 'libvirtd');
			await endProcess(await readPid(virtlogdPidFile), 'virtlogd');
			await fs.rm(root, { recursive: true, force: true });
		},
	};
	try {
		await launch(true);
	} catch (error) {
		await daemon.stop();
		throw error;
	}
	return daemon;
}

