// Accelerator detection: the hand-made boot sector really runs (under TCG), the env override
// wins, and detection is bounded and cached.
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { detectAccelerator, probeAccelerator } from '../../source/hosts/lab/accel.ts';
import { bootSector } from '../../source/qemu/boot-sector.ts';
import { destroyEnv, makeEnv, type TestEnv } from './helpers.ts';
import { processAlive, waitFor } from '../support/lab-env.ts';

let env: TestEnv;
const savedAccel = process.env.RUNDIRECT_ACCEL;

beforeEach(async () => {
	env = await makeEnv();
	delete process.env.RUNDIRECT_ACCEL;
});

afterEach(async () => {
	if (savedAccel === undefined) delete process.env.RUNDIRECT_ACCEL;
	else process.env.RUNDIRECT_ACCEL = savedAccel;
	await destroyEnv(env);
});

it('builds a valid MBR boot sector', () => {
	const sector = bootSector();
	expect(sector.length).toBe(512);
	expect(sector[510]).toBe(0x55);
	expect(sector[511]).toBe(0xaa);
});

it('the boot sector prints its marker under TCG', async () => {
	const result = await probeAccelerator('tcg', { timeoutMs: 8_000 });
	expect(result).toMatchObject({ ok: true });
	expect(result.ms).toBeLessThan(8_000);
});

it('a process that exits in the middle of a probe (a second Ctrl+C) takes the probe QEMU with it', async () => {
	const tmp = path.join(env.root, 'tmp');
	const blank = path.join(env.root, 'blank.img');
	await fs.mkdir(tmp);
	// No bootable disk: the firmware retries for ever, the probe waits its whole minute.
	await fs.writeFile(blank, Buffer.alloc(1024 * 1024));
	const accel = pathToFileURL(path.resolve('source/hosts/lab/accel.ts')).href;
	const script = `
		import fs from 'node:fs';
		import path from 'node:path';
		const { probeAccelerator } = await import(${JSON.stringify(accel)});
		void probeAccelerator('tcg', { image: ${JSON.stringify(blank)}, timeoutMs: 60_000 });
		// The probe QEMU once it has daemonized (its launching parent gone): the state a probe waits in.
		const daemonized = (pid) => { try { const ppid = fs.readFileSync('/proc/' + pid + '/stat', 'utf8').split(') ')[1].split(' ')[1]; return !fs.readFileSync('/proc/' + ppid + '/comm', 'utf8').startsWith('qemu'); } catch { return false; } };
		const pidOf = (dir) => { try { const full = path.join(${JSON.stringify(tmp)}, dir); const file = fs.readdirSync(full).find((name) => name.endsWith('.pid')); const pid = file ? fs.readFileSync(path.join(full, file), 'utf8').trim() : ''; return pid && daemonized(pid) ? pid : ''; } catch { return ''; } };
		const timer = setInterval(() => {
			const pid = fs.readdirSync(${JSON.stringify(tmp)}).filter((dir) => dir.startsWith('rd-probe-')).map(pidOf).find(Boolean);
			if (pid) { clearInterval(timer); console.log(pid, fs.readFileSync('/proc/' + pid + '/cmdline', 'utf8').split('\\0')[0]); process.exit(3); }
		}, 50);`;
	const child = await execa(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { TMPDIR: tmp }, reject: false, timeout: 30_000, stdin: 'ignore' });
	const pid = Number.parseInt(child.stdout, 10);
	expect(child.exitCode, child.stderr).toBe(3);
	// The child saw the probe QEMU running before it exited.
	expect(child.stdout).toMatch(/^\d+ qemu-system-x86_64$/);
	try {
		await waitFor('the probe QEMU to end', 10_000, async () => ((await processAlive(pid)) ? undefined : true), 50);
		expect((await fs.readdir(tmp)).filter((name) => name.startsWith('rd-probe-'))).toEqual([]);
	} finally {
		try {
			process.kill(pid, 'SIGKILL');
		} catch {
			// Gone, as it should be.
		}
	}
});

it('RUNDIRECT_ACCEL overrides detection', async () => {
	process.env.RUNDIRECT_ACCEL = 'tcg';
	expect(await detectAccelerator({ cacheDir: env.paths.cache })).toMatchObject({ accel: 'tcg', source: 'env' });
});

it('detects within the time limit and caches the verdict', async () => {
	const started = Date.now();
	const first = await detectAccelerator({ cacheDir: env.paths.cache });
	expect(Date.now() - started).toBeLessThan(12_000);
	expect(['kvm', 'tcg']).toContain(first.accel);
	console.log(`[measure] accelerator verdict: ${first.accel} (${first.reason})`);
	const cached = JSON.parse(await fs.readFile(path.join(env.paths.cache, 'accel.json'), 'utf8')) as Record<string, unknown>;
	expect(cached.accel).toBe(first.accel);
	const second = await detectAccelerator({ cacheDir: env.paths.cache });
	expect(second).toMatchObject({ accel: first.accel, source: first.source === 'probe' && first.probe ? 'cache' : first.source });
});

it('a probe image without the marker falls back to TCG, never hangs', async () => {
	const image = path.join(env.root, 'silent.img');
	await fs.writeFile(image, Buffer.alloc(1024 * 1024));
	const started = Date.now();
	const result = await probeAccelerator('tcg', { image, timeoutMs: 1_500 });
	expect(result.ok).toBe(false);
	expect(result.reason).toMatch(/RUNDIRECT-GUEST-ALIVE/);
	expect(Date.now() - started).toBeLessThan(5_000);
});
