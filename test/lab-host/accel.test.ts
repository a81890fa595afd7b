// Accelerator detection: the hand-made boot sector really runs (under TCG), the env override
// wins, and detection is bounded and cached.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { detectAccelerator, probeAccelerator } from '../../source/hosts/lab/accel.ts';
import { bootSector } from '../../source/qemu/boot-sector.ts';
import { destroyEnv, makeEnv, type TestEnv } from './helpers.ts';

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
