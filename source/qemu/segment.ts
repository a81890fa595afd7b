// A drill VM's probed network: a private network namespace holding the VM's taps (one per NIC)
// and nothing else: no address of the host, no route out, no other VM. The lab runs QEMU inside
// the namespace; libvirt's QEMU gets its taps in the host's namespace and they are moved in right
// after the domain starts (a tap keeps working in another namespace). The TCP probe runs inside
// the namespace too, so a connection it makes crosses a real virtual wire to the guest and
// "connected" means the guest's own TCP stack answered with SYN-ACK. (QEMU's user-mode network
// cannot say that: it accepts the host's connection itself before it tries the guest.) The guest
// is reached at its IPv6 link-local addresses, which every IPv6 guest has without DHCP or any
// configuration of the network. Namespaces need root (CAP_NET_ADMIN) and iproute2's `ip`.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { execa } from 'execa';
import { HostError } from '../core/errors.ts';
import { exists, findOnPath } from '../core/files.ts';
import type { GuestInterface } from './guest-agent.ts';

const NETNS_DIR = '/run/netns';

/** One connection the probe tried: where, and what became of it. */
export interface TcpProbeAttempt {
	/** e.g. "[fe80::5054:ff:fe00:1%rdtap0]:5432". */
	target: string;
	connected: boolean;
	/** "connected in 3 ms", "ECONNREFUSED", "no answer within 3000 ms". */
	detail: string;
}

/** A namespace name for `parts` (e.g. a lab's run folder and a VM name): short, stable, unique to them. */
export function segmentName(...parts: string[]): string {
	return `rundirect-${createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 12)}`;
}

/** The lab's tap of NIC `index` inside its namespace (a namespace of its own: no clash). */
export function tapName(index: number): string {
	return `rdtap${index}`;
}

/** Why no probed network can be made here, or null. */
export async function segmentProblem(): Promise<string | null> {
	if (process.getuid?.() !== 0) return 'a TCP check puts the VM on a private network segment (a network namespace with a tap per NIC), which needs root: run rundirect as root, or check the port from inside the guest with an exec check';
	if (!(await findOnPath('ip'))) return 'a TCP check needs iproute2 for its private network segment: apt-get install -y iproute2';
	return null;
}

async function ip(args: string[]): Promise<void> {
	const result = await execa('ip', args, { reject: false, stdin: 'ignore', timeout: 15_000 });
	if (result.exitCode !== 0) throw new HostError('SEGMENT_FAILED', `ip ${args.join(' ')} failed: ${(result.stderr || result.shortMessage || '').trim()}`);
}

export async function segmentExists(namespace: string): Promise<boolean> {
	return exists(path.join(NETNS_DIR, namespace));
}

/** A fresh, empty namespace (one left by a VM that died is made anew). */
async function freshSegment(namespace: string): Promise<void> {
	await deleteSegment(namespace);
	await ip(['netns', 'add', namespace]);
	try {
		await ip(['-n', namespace, 'link', 'set', 'lo', 'up']);
		// No duplicate address detection on a wire with one guest: the probe's address is usable at once.
		await execa('ip', ['netns', 'exec', namespace, 'sysctl', '-q', '-w', 'net.ipv6.conf.default.accept_dad=0'], { reject: false, stdin: 'ignore' });
	} catch (error) {
		await deleteSegment(namespace);
		throw error;
	}
}

/** A fresh namespace with `nics` taps (tapName), up, for a QEMU started inside it. */
export async function createSegment(namespace: string, nics: number): Promise<void> {
	await freshSegment(namespace);
	try {
		for (let index = 0; index < nics; index++) {
			await ip(['-n', namespace, 'tuntap', 'add', 'dev', tapName(index), 'mode', 'tap']);
			await ip(['-n', namespace, 'link', 'set', tapName(index), 'up']);
		}
	} catch (error) {
		await deleteSegment(namespace);
		throw error;
	}
}

/** Moves taps a running QEMU holds from this namespace into `namespace` (made when missing), up; taps already moved stay. */
export async function moveIntoSegment(namespace: string, taps: readonly string[]): Promise<void> {
	const inHost = await Promise.all(taps.map((tap) => exists(path.join('/sys/class/net', tap))));
	if (!inHost.some(Boolean)) return;
	if (!(await segmentExists(namespace))) await freshSegment(namespace);
	for (const [index, tap] of taps.entries()) {
		if (!inHost[index]) continue;
		await ip(['link', 'set', tap, 'netns', namespace]);
		await ip(['-n', namespace, 'link', 'set', tap, 'up']);
	}
}

/** Removes the namespace and its taps; nothing to do when there is none. */
export async function deleteSegment(namespace: string): Promise<void> {
	if (!(await segmentExists(namespace))) return;
	await ip(['netns', 'delete', namespace]);
}

/** `argv` run inside the namespace (`ip netns exec` execs it: the pid is the command's own). */
export function inSegment(namespace: string, argv: readonly string[]): { file: string; args: string[] } {
	return { file: 'ip', args: ['netns', 'exec', namespace, ...argv] };
}

// Runs inside the namespace under this same Node: one connect per target, all at once; prints one JSON line per target.
const PROBE_SCRIPT = `
const net = require('node:net');
const [port, ms, ...hosts] = process.argv.slice(1);
let left = hosts.length;
const done = (host, connected, detail) => { process.stdout.write(JSON.stringify({ host, connected, detail }) + '\\n'); if (--left === 0) process.exit(0); };
for (const host of hosts) {
	const began = Date.now();
	const socket = net.connect({ host, port: Number(port), timeout: Number(ms) });
	socket.once('connect', () => { socket.destroy(); done(host, true, 'connected in ' + (Date.now() - began) + ' ms'); });
	socket.once('timeout', () => { socket.destroy(); done(host, false, 'no answer within ' + ms + ' ms'); });
	socket.once('error', (error) => done(host, false, error.code || error.message));
}
`;

/** Connects to `port` of each address (scoped: fe80::…%tap) from inside the namespace. */
export async function probeTcp(namespace: string, hosts: readonly string[], port: number, timeoutMs: number): Promise<TcpProbeAttempt[]> {
	if (hosts.length === 0) return [];
	const { file, args } = inSegment(namespace, [process.execPath, '-e', PROBE_SCRIPT, String(port), String(timeoutMs), ...hosts]);
	const result = await execa(file, args, { reject: false, stdin: 'ignore', timeout: timeoutMs + 10_000 });
	const attempts: TcpProbeAttempt[] = [];
	for (const line of result.stdout.split('\n')) {
		if (!line.trim()) continue;
		const parsed = JSON.parse(line) as { host: string; connected: boolean; detail: string };
		attempts.push({ target: `[${parsed.host}]:${port}`, connected: parsed.connected, detail: parsed.detail });
	}
	if (attempts.length === 0) throw new HostError('PROBE_FAILED', `the TCP probe in network namespace ${namespace} did not run: ${(result.stderr || result.shortMessage || '').trim()}`);
	return attempts;
}

function macDigits(mac: string): string {
	return mac.replace(/[:-]/g, '').toLowerCase();
}

/**
 * The scoped link-local addresses the probe tries: on NIC i's tap (`taps[i]`), the addresses of
 * the guest interface with NIC i's MAC (of any interface with a MAC, when the NIC has none).
 */
export function linkLocalTargets(nicMacs: ReadonlyArray<string | null>, taps: readonly string[], interfaces: readonly GuestInterface[]): string[] {
	const nics = interfaces.filter((entry) => entry.mac !== null && macDigits(entry.mac) !== '000000000000');
	const hosts: string[] = [];
	nicMacs.forEach((mac, index) => {
		const tap = taps[index];
		if (tap === undefined) return;
		for (const entry of nics.filter((candidate) => mac === null || macDigits(candidate.mac ?? '') === macDigits(mac))) {
			for (const address of entry.addresses) if (address.family === 'ipv6' && /^fe[89ab]/i.test(address.address)) hosts.push(`${address.address}%${tap}`);
		}
	});
	return hosts;
}

/** The guest's interfaces in a line, for a reason: "eth0 52:54:00:… fe80::…/64". */
export function describeInterfaces(interfaces: readonly GuestInterface[]): string {
	return interfaces.map((entry) => `${entry.name} ${entry.mac ?? '-'} ${entry.addresses.map((address) => `${address.address}/${address.prefix}`).join(' ') || 'no address'}`).join('; ');
}
