// The command line's answers to mistakes: an unknown command gets the closest one (not the
// whole help), a usage error is JSON under --json, every --help lists the global options, and
// asking to stop a finished session is refused alike by id or by name.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let state = '';

beforeAll(async () => {
	state = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-cli-'));
});
afterAll(async () => {
	await fs.rm(state, { recursive: true, force: true });
});

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
	return new Promise((resolve) => {
		execFile(process.execPath, [path.join(root, 'bin', 'rundirect.js'), '--state-dir', state, '--data-dir', path.join(state, 'data'), ...args], { cwd: root, timeout: 60_000 }, (error, stdout, stderr) => {
			resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
		});
	});
}

describe('the command line', () => {
	it('names an unknown command with the closest one, exit 2, without the whole help', async () => {
		const { code, stderr, stdout } = await cli(['backpus']);
		expect(code).toBe(2);
		expect(stderr).toContain('unknown command "backpus"');
		expect(stderr).toContain('did you mean "rundirect backups"?');
		expect(stderr).not.toContain('Options:');
		expect(stdout).toBe('');
	});

	it('answers a usage error with an NDJSON error record under --json', async () => {
		const { code, stdout } = await cli(['sessions', '--bogus', '--json']);
		expect(code).toBe(2);
		const record = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
		expect(record).toMatchObject({ type: 'error', ok: false, exitCode: 2, message: "unknown option '--bogus'" });
	});

	it('lists the global options in a command’s --help, and finalize takes --yes', async () => {
		const { code, stdout } = await cli(['finalize', '--help']);
		expect(code).toBe(0);
		expect(stdout).toContain('--yes');
		expect(stdout).toContain('Global Options:');
		expect(stdout).toContain('--state-dir <path>');
	});
});
