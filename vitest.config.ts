import { defineConfig } from 'vitest/config';

export default defineConfig({
	test: {
		include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
		// The lab-host tests boot real QEMU guests under TCG on a 2-core machine: running the
		// files one at a time keeps timeouts about the code, not about contention.
		fileParallelism: false,
		testTimeout: 120_000,
		hookTimeout: 120_000,
	},
});
