// Step 5 under a rate limit on the real lab host: the cap counts the backup's data, not the
// zeros of its virtual size, and the progress moves smoothly at about the cap. db01's two
// disks hold ~15 MiB of data in 96 MiB of virtual size: at 4 MiB/s the copy takes ~4 s (it
// took 24 s when QEMU's speed counted the zeros), and no progress step jumps past a quarter.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInitializedLabEnv, type LabEnv } from '../support/lab-env.ts';

let lab: LabEnv;

beforeAll(async () => {
	lab = await createInitializedLabEnv();
}, 620_000);

afterAll(async () => {
	await lab?.cleanup();
});

const MiB = 2 ** 20;

describe('a rate-limited copy on the lab host', () => {
	it('caps the data copied, not the virtual size, with smooth progress', async () => {
		expect((await lab.cli(['start', 'db01', '--yes', '--json'], { timeoutMs: 60_000 })).exitCode).toBe(0);
		const finalize = await lab.cli(['finalize', 'db01', '--yes', '--rate-limit', '4', '--json'], { timeoutMs: 120_000 });
		expect(finalize.exitCode).toBe(0);
		const progress = finalize.events.filter((event) => event.type === 'progress' && event.step === 'copy-data') as Array<{ done: number; total: number; rate: number | null }>;
		const step = finalize.events.find((event) => event.type === 'step' && event.step === 'copy-data' && event.status === 'done') as { durationMs: number } | undefined;
		const total = progress.at(-1)?.total ?? 0;
		// The total is the data, well below the 96 MiB of virtual size.
		expect(total).toBeGreaterThan(8 * MiB);
		expect(total).toBeLessThan(40 * MiB);
		const expected = total / (4 * MiB);
		const seconds = (step?.durationMs ?? 0) / 1000;
		expect(seconds).toBeGreaterThan(expected * 0.6);
		expect(seconds).toBeLessThan(expected * 2 + 1);
		let previous = 0;
		for (const { done } of progress) {
			expect(done).toBeGreaterThanOrEqual(previous);
			expect(done - previous).toBeLessThanOrEqual(total / 4);
			previous = done;
		}
		const rates = progress.map((event) => event.rate).filter((rate): rate is number => rate !== null).slice(3);
		const median = [...rates].sort((a, b) => a - b)[Math.floor(rates.length / 2)] ?? 0;
		expect(median / MiB).toBeGreaterThan(2.5);
		expect(median / MiB).toBeLessThan(6);
	}, 180_000);
});
