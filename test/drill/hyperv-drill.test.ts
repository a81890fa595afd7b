// A drill on the Hyper-V host, through the drill API the console uses, the real engine and the
// real Hyper-V driver, against the recorded-transcript PowerShell double (no Windows here): the
// NICs are isolated, step 4 does not wait for the heartbeat (the drill times it), the evidence
// is the VM's thumbnail as a PNG, and the VM is discarded. Verified by construction only: the
// double answers as Hyper-V is documented to, not as a real host did.
import { readdirSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HypervHost } from '../../source/hosts/hyperv/driver.ts';
import { ChannelRunner } from '../../source/hosts/hyperv/runner.ts';
import { Engine } from '../../source/restore/engine.ts';
import { PreflightError } from '../../source/core/errors.ts';
import { listDrills, prepareDrill, readDrill, resolveDrillSpec, runDrill, type DrillEvent } from '../../source/drill/index.ts';
import { SimulatedHost, TranscriptChannel, writeHypervRestorePoint, type DecodedCall } from '../hyperv/support.ts';
import { modelDriver, modelVms } from '../hyperv/model/harness.ts';
import { scenario } from '../hyperv/model/scenario.ts';
import { findPwsh, NO_PWSH } from '../hyperv/pwsh.ts';

/** The simulated host, with a VM named web01 in production (never touched) and thumbnails. */
class DrillHost extends SimulatedHost {
	override answer(call: DecodedCall) {
		if (call.script === 'plan-probe') {
			const taken = call.params.vmName === 'web01';
			return { ok: true as const, data: { virtualHardDiskPath: 'D:\\VMs', replaces: taken ? 'web01' : null, replacesSession: null, macsInUse: [{ mac: '00155D010203', vm: 'web01' }] } };
		}
		if (call.script === 'thumbnail') {
			const width = Number(call.params.width);
			const height = Number(call.params.height);
			// A white frame: 0xFFFF in RGB 565.
			return { ok: true as const, data: { vmId: '9', state: 'Running', width, height, rgb565: Buffer.alloc(width * height * 2, 0xff).toString('base64') } };
		}
		return super.answer(call);
	}
}

/** A host where every name is taken: the drill's name too. */
class TakenHost extends DrillHost {
	override answer(call: DecodedCall) {
		if (call.script === 'plan-probe') return { ok: true as const, data: { virtualHardDiskPath: 'D:\\VMs', replaces: String(call.params.vmName), replacesSession: null, macsInUse: [] } };
		return super.answer(call);
	}
}

let root: string;
let state: string;
let destination: string;

beforeEach(async () => {
	root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-hyperv-drill-'));
	state = path.join(root, 'state');
	destination = path.join(root, 'destination');
	await writeHypervRestorePoint(destination);
});
afterEach(async () => {
	await fs.rm(root, { recursive: true, force: true });
});

function controller(host: SimulatedHost) {
	const channel = new TranscriptChannel(host);
	const hyperv = new HypervHost({ computer: null, platform: 'win32', pollIntervalMs: 1, heartbeatTimeoutMs: 60_000, runner: new ChannelRunner({ computer: null, hostId: 'hyperv', channel }) });
	return { channel, engine: new Engine({ host: hyperv, stateDir: state, destination }) };
}

describe('a drill on the Hyper-V host (transcript double)', () => {
	it('isolates the NICs, waits for the heartbeat itself, keeps a thumbnail PNG as evidence, and discards the VM', async () => {
		const host = new DrillHost(1);
		host.aside = null;
		const { channel, engine } = controller(host);
		const events: DrillEvent[] = [];
		const spec = resolveDrillSpec({ vms: ['web01'], timeoutSeconds: 30 }, null);
		const report = await runDrill({ engine, stateDir: state, drill: spec, onEvent: (event) => events.push(event) });

		const vm = report.vms[0];
		expect(report.outcome).toBe('passed');
		expect(vm?.proof).toBe('heartbeat');
		expect(vm?.drillName).toMatch(/^web01-drill-[0-9a-f]{6}$/);
		expect(vm?.timeToProofMs).toBeGreaterThanOrEqual(vm?.timeToRunningMs ?? Infinity);
		expect(report.network).toBe('NICs disconnected');

		const calls = channel.calls.map((call) => call.script);
		// Never the production VM: no set-aside, no removal, no restore of web01.
		expect(calls).not.toContain('set-aside');
		expect(calls).not.toContain('remove-vm');
		const start = channel.calls.find((call) => call.script === 'start-vm');
		expect(start?.params.vmName).toBe(vm?.drillName);
		expect(start?.params.nics).toEqual([{ name: 'Network Adapter', switch: null, mac: null, vlan: 12 }]);
		const preflight = channel.calls.find((call) => call.script === 'preflight');
		expect(preflight?.params.nics).toEqual([]);
		// Step 4 returns at once; the heartbeat polls are the drill's, after it.
		expect(calls.indexOf('vm-status')).toBeGreaterThan(calls.indexOf('start-vm'));
		expect(calls.slice(calls.indexOf('vm-status'))).toEqual(expect.arrayContaining(['thumbnail', 'discard']));
		expect(calls.indexOf('thumbnail')).toBeLessThan(calls.indexOf('discard'));

		expect(vm?.evidence?.kind).toBe('thumbnail');
		const png = await fs.readFile(path.join(state, 'drills', report.id, vm?.evidence?.file ?? 'missing'));
		expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
		expect(png.readUInt32BE(16)).toBe(640);
		expect(png.readUInt32BE(20)).toBe(480);
		expect(await fs.readFile(path.join(state, 'drills', report.id, 'report.md'), 'utf8')).toContain(`![web01's screen](${vm?.evidence?.file})`);
		expect(vm?.cleanup.state).toBe('stopped');
		const session = await engine.journal.read(vm?.session ?? '');
		expect(session?.purpose).toBe('drill');
		expect(session?.plan.drill).toEqual({ isolatedSwitch: null });
		expect(session?.state).toBe('stopped');

		expect(events.filter((event) => event.type === 'drill-vm').map((event) => (event.type === 'drill-vm' ? event.milestone : ''))).toEqual(['waiting', 'starting', 'running', 'alive', 'evidence', 'stopped']);
		expect((await readDrill(state, report.id))?.outcome).toBe('passed');
		expect((await listDrills(state)).drills.map((drill) => drill.id)).toEqual([report.id]);
	});

	it('puts the NICs on the isolated switch named in the plan, and checks it is not External', async () => {
		const host = new DrillHost(1);
		host.aside = null;
		const { channel, engine } = controller(host);
		const report = await runDrill({ engine, stateDir: state, drill: resolveDrillSpec({ timeoutSeconds: 30 }, { isolatedSwitch: 'DrillNet', vms: [{ vm: 'web01' }] }) });
		expect(report.network).toBe('NICs on the isolated switch DrillNet');
		expect(channel.calls.find((call) => call.script === 'start-vm')?.params.nics).toEqual([{ name: 'Network Adapter', switch: 'DrillNet', mac: null, vlan: 12 }]);
		const preflight = channel.calls.find((call) => call.script === 'preflight');
		expect(preflight?.params.isolatedSwitch).toBe('DrillNet');
		expect(preflight?.params.nics).toEqual([{ switch: 'DrillNet' }]);
	});

	it('a guest whose heartbeat never comes fails at its timeout and is still discarded', async () => {
		const host = new DrillHost(1);
		host.aside = null;
		host.heartbeatPolls = -1e9; // never reaches "Ok"
		const { channel, engine } = controller(host);
		const report = await runDrill({ engine, stateDir: state, drill: resolveDrillSpec({ vms: ['web01'], timeoutSeconds: 1 }, null) });
		expect(report.outcome).toBe('failed');
		expect(report.vms[0]?.reason).toMatch(/no proof of life \(heartbeat\) within 1 s/);
		expect(report.vms[0]?.evidence?.kind).toBe('thumbnail');
		expect(report.vms[0]?.cleanup.state).toBe('stopped');
		expect(channel.calls.map((call) => call.script)).toContain('discard');
	});

	it('refuses, changing nothing, when the drill name is taken', async () => {
		const host = new TakenHost(1);
		const { channel, engine } = controller(host);
		const prepared = prepareDrill(engine, resolveDrillSpec({ vms: ['web01'] }, null));
		await expect(prepared).rejects.toThrow(PreflightError);
		await expect(prepared).rejects.toThrow(/web01: a VM named web01-drill-[0-9a-f]{6} already exists/);
		expect(channel.calls.map((call) => call.script)).not.toContain('start-vm');
		expect((await listDrills(state)).drills).toEqual([]);
	});
});

describe('thumbnail PNG', () => {
	it('widens RGB 565 to 8-bit RGB', async () => {
		const { rgb565ToPng } = await import('../../source/hosts/hyperv/png.ts');
		const pixels = Buffer.alloc(4);
		pixels.writeUInt16LE(0xf800, 0); // red
		pixels.writeUInt16LE(0x07e0, 2); // green
		const png = rgb565ToPng(pixels, 2, 1);
		const idat = png.indexOf('IDAT');
		const length = png.readUInt32BE(idat - 4);
		const raw = inflateSync(png.subarray(idat + 4, idat + 4 + length));
		expect([...raw]).toEqual([0, 255, 0, 0, 0, 255, 0]);
		expect(() => rgb565ToPng(pixels, 0, 1)).toThrow(/cannot be turned into a picture/);
	});
});

// The same drills executed: the real driver over node-powershell and a real pwsh, against the
// Hyper-V model (test/hyperv/model), whose heartbeat service answers while the guest's does.
const pwsh = findPwsh();
describe.skipIf(pwsh === null)('a drill on the Hyper-V model (real pwsh)', () => {
	async function modelController(guestHeartbeat: boolean) {
		const s = await scenario(root, 'model', { host: { guest: { heartbeat: guestHeartbeat, shutdown: true } } });
		const hyperv = modelDriver(pwsh as string, s.host);
		return { s, hyperv, engine: new Engine({ host: hyperv, stateDir: s.state, destination: s.destination }) };
	}

	it('runs beside production on the isolated switch, times the heartbeat, keeps the screen, and leaves nothing', async () => {
		const { s, hyperv, engine } = await modelController(true);
		try {
			const events: DrillEvent[] = [];
			// The drill VM's adapters as the model holds them when the guest is alive.
			let adapters: unknown[] = [];
			const onEvent = (event: DrillEvent) => {
				events.push(event);
				if (event.type !== 'drill-vm' || event.milestone !== 'alive') return;
				const dir = path.join(s.host.root, 'vms');
				const drillVm = readdirSync(dir).map((file) => JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { name: string; adapters: unknown[] }).find((entry) => entry.name === event.drillName);
				adapters = drillVm?.adapters ?? [];
			};
			const report = await runDrill({ engine, stateDir: s.state, drill: resolveDrillSpec({ timeoutSeconds: 60 }, { isolatedSwitch: 'rundirect-drill', vms: [{ vm: 'web01' }] }), onEvent });
			const vm = report.vms[0];
			expect(report.outcome).toBe('passed');
			expect(vm?.proof).toBe('heartbeat');
			expect(vm?.timeToProofMs).toBeGreaterThanOrEqual(vm?.timeToRunningMs ?? Infinity);
			expect(events.filter((event) => event.type === 'drill-vm').map((event) => (event.type === 'drill-vm' ? event.milestone : ''))).toEqual(['waiting', 'starting', 'running', 'alive', 'evidence', 'stopped']);
			expect(vm?.evidence?.kind).toBe('thumbnail');
			// The restore point's one NIC, on the isolated switch only.
			expect(adapters).toMatchObject([{ name: 'Network Adapter', switchName: 'rundirect-drill', vlan: 12 }]);
			const png = await fs.readFile(path.join(s.state, 'drills', report.id, vm?.evidence?.file ?? 'missing'));
			expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
			// The model's running screen is a gradient: not one colour.
			const idat = png.indexOf('IDAT');
			const pixels = inflateSync(png.subarray(idat + 4, idat + 4 + png.readUInt32BE(idat - 4)));
			expect(new Set(pixels.subarray(1, 3 * 640 + 1)).size).toBeGreaterThan(1);
			expect(vm?.cleanup.state).toBe('stopped');
			// Production untouched: the one VM left is web01 as it was, running on its own disk.
			const vms = await modelVms(s.host);
			expect(vms.map((entry) => [entry.id, entry.name, entry.state, entry.notes])).toEqual([[s.replaced.id, 'web01', 'Running', '']]);
			const session = await engine.journal.read(vm?.session ?? '');
			expect(session?.plan.drill).toEqual({ isolatedSwitch: 'rundirect-drill' });
		} finally {
			await hyperv.close();
		}
	}, 180_000);

	it('a guest that never sends a heartbeat fails the drill at its timeout, and the drill VM is still discarded', async () => {
		const { s, hyperv, engine } = await modelController(false);
		try {
			const report = await runDrill({ engine, stateDir: s.state, drill: resolveDrillSpec({ vms: ['web01'], timeoutSeconds: 3 }, null) });
			expect(report.outcome).toBe('failed');
			expect(report.vms[0]?.reason).toMatch(/no proof of life \(heartbeat\) within 3 s/);
			expect(report.vms[0]?.cleanup.state).toBe('stopped');
			expect((await modelVms(s.host)).map((entry) => entry.name)).toEqual(['web01']);
		} finally {
			await hyperv.close();
		}
	}, 180_000);

	it('application checks run inside the guest through PowerShell Direct as the guest account; a failing one keeps its output; no account is refused in pre-flight', async () => {
		const s = await scenario(root, 'model', { host: { guest: { heartbeat: true, shutdown: true, accounts: { 'DRILL\\checker': 'pa ss"word' } } } });
		const checker = { user: 'DRILL\\checker', password: 'pa ss"word' };
		// The model's guest runs real processes: a POSIX shell stands in for the guest's tools.
		const check = (script: string, timeoutSeconds = 20) => resolveDrillSpec({ timeoutSeconds: 60 }, { isolatedSwitch: 'rundirect-drill', vms: [{ vm: 'web01', checks: [{ exec: ['sh', '-c', script, 'arg with "quotes" and \\'], timeoutSeconds }] }] });
		const withAccount = modelDriver(pwsh as string, s.host, { guestCredential: checker });
		try {
			const engine = new Engine({ host: withAccount, stateDir: s.state, destination: s.destination });
			const passed = await runDrill({ engine, stateDir: s.state, drill: check('printf "%s|" "$0"; echo ready; echo warm >&2') });
			const vm = passed.vms[0];
			expect(vm?.outcome, vm?.reason ?? '').toBe('passed');
			// Every argument arrives whole inside the guest, quotes and a trailing backslash included.
			expect(vm?.checks).toMatchObject([{ outcome: 'passed', exitCode: 0, stdout: 'arg with "quotes" and \\|ready\n', stderr: 'warm\n' }]);
			expect(vm?.timeToReadyMs).toBeGreaterThanOrEqual(vm?.timeToProofMs ?? Infinity);

			const failed = await runDrill({ engine, stateDir: s.state, drill: check('echo "db down"; exit 3', 3) });
			expect(failed.vms[0]?.outcome).toBe('failed');
			expect(failed.vms[0]?.reason).toMatch(/application check 1 \(sh -c .*\) exited 3 within 3 s of proof of life: db down/);
			expect(failed.vms[0]?.cleanup.state).toBe('stopped');
		} finally {
			await withAccount.close();
		}

		const wrong = modelDriver(pwsh as string, s.host, { guestCredential: { user: 'DRILL\\checker', password: 'nope' } });
		try {
			const engine = new Engine({ host: wrong, stateDir: s.state, destination: s.destination });
			const report = await runDrill({ engine, stateDir: s.state, drill: check('echo never', 3) });
			expect(report.vms[0]?.outcome).toBe('failed');
			expect(report.vms[0]?.checks[0]?.error).toMatch(/PowerShell Direct as DRILL\\checker: The credential is invalid/);
		} finally {
			await wrong.close();
		}

		const none = modelDriver(pwsh as string, s.host, { guestCredential: null });
		try {
			const engine = new Engine({ host: none, stateDir: s.state, destination: s.destination });
			await expect(prepareDrill(engine, check('echo never'))).rejects.toThrow(/RUNDIRECT_HYPERV_GUEST_USER and RUNDIRECT_HYPERV_GUEST_PASSWORD.*so its application checks cannot run/);
			// A Private switch is reachable from no host process: no probe there.
			const tcp = resolveDrillSpec({}, { isolatedSwitch: 'rundirect-drill', vms: [{ vm: 'web01', checks: [{ tcp: 3389 }] }] });
			await expect(prepareDrill(engine, tcp)).rejects.toThrow(/web01: the host hyperv has no probe on its drill networks \(a TCP check needs a point on the VM's isolated network, where only the guest can answer\), so its TCP checks cannot run/);
		} finally {
			await none.close();
		}
		expect((await modelVms(s.host)).map((entry) => entry.name)).toEqual(['web01']);
	}, 300_000);

	it('refuses an External switch as the isolated one, before anything changes', async () => {
		const { s, hyperv, engine } = await modelController(true);
		try {
			await expect(prepareDrill(engine, resolveDrillSpec({ timeoutSeconds: 30 }, { isolatedSwitch: 'LAN', vms: [{ vm: 'web01' }] }))).rejects.toThrow(/LAN/);
			expect((await modelVms(s.host)).map((entry) => [entry.name, entry.state])).toEqual([['web01', 'Running']]);
		} finally {
			await hyperv.close();
		}
	}, 120_000);
});
if (pwsh === null) it.skip(`a drill on the Hyper-V model: ${NO_PWSH}`, () => undefined);
