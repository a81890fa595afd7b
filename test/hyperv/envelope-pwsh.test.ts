// Envelope round trips through the real channel: node-powershell, one long-lived pwsh, the
// prelude and epilogue every script has. What a script may print besides its result (stray
// output, host text, warnings, progress records, errors that do not stop it) must not disturb
// the envelope; UTF-8 values and large results must come back exactly.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asArray, asDate } from '../../source/hosts/hyperv/envelope.ts';
import { ChannelRunner, NodePowerShellChannel, type PowerShellChannel } from '../../source/hosts/hyperv/runner.ts';
import { composeScript } from '../../source/hosts/hyperv/scripts.ts';
import { createModelHost, modelPrelude } from './model/harness.ts';
import { findPwsh, NO_PWSH } from './pwsh.ts';
import { HOSTILE } from './support.ts';

const pwsh = findPwsh();
let root: string;
let runner: ChannelRunner;

/** The real channel, keeping what the last call printed (to show the noise really was there). */
class RecordingChannel implements PowerShellChannel {
	last = { stdout: '', stderr: '' };
	constructor(readonly inner: PowerShellChannel) {}
	async invoke(line: string, timeoutMs: number) {
		this.last = await this.inner.invoke(line, timeoutMs);
		return this.last;
	}
	dispose() {
		return this.inner.dispose();
	}
}
let channel: RecordingChannel;

beforeAll(async () => {
	root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-hv-envelope-'));
	if (pwsh === null) return;
	const host = await createModelHost(path.join(root, 'host'));
	channel = new RecordingChannel(new NodePowerShellChannel({ executable: pwsh, prelude: modelPrelude(host, pwsh) }));
	runner = new ChannelRunner({ computer: null, hostId: 'hyperv', channel });
});
afterAll(async () => {
	await runner?.dispose();
	await fs.rm(root, { recursive: true, force: true });
});

const NOISY = composeScript(
	'noisy',
	'prints everything a script can besides its result',
	60_000,
	[
		"Write-Output 'stray output before the result'",
		"[Console]::Out.WriteLine('stray text on stdout')",
		"[Console]::Out.WriteLine('RDENVELOPE {\"ok\":true,\"data\":\"an earlier, fake envelope\"}')",
		"Write-Host 'host text'",
		"Write-Warning 'a warning' -WarningAction Continue",
		"Write-Information 'information' -InformationAction Continue",
		"Write-Verbose 'verbose' -Verbose",
		"$ProgressPreference = 'Continue'",
		"for ($i = 0; $i -le 100; $i += 25) { Write-Progress -Activity 'copying' -Status ([string]$i + '%') -PercentComplete $i }",
		"Write-Progress -Activity 'copying' -Completed",
		"Write-Error 'a non-terminating error' -ErrorAction Continue",
		"[Console]::Error.WriteLine('raw stderr')",
		"$null = 1 + 1",
		'return @{ values = @($P.values); one = @($P.values[0]); big = (\'x\' * [int]$P.bigLength); date = [datetime]::new(2026, 1, 2, 3, 4, 5, [DateTimeKind]::Utc) }',
	].join('\n'),
);

const FAILING = composeScript('failing', 'fails after printing', 60_000, ["Write-Warning 'before failing' -WarningAction Continue", "$x = Get-Item -LiteralPath ('/nonexistent/' + $P.name)"].join('\n'));

describe.skipIf(pwsh === null)('envelopes through node-powershell and a real pwsh', () => {
	it('the result survives stray output, host text, warnings, progress records, errors and a fake envelope printed earlier', async () => {
		const data = (await runner.run(NOISY, { values: HOSTILE, bigLength: 4 * 2 ** 20 })) as Record<string, unknown>;
		expect(channel.last.stdout).toContain('stray text on stdout');
		expect(channel.last.stdout).toContain('an earlier, fake envelope');
		expect(`${channel.last.stdout}${channel.last.stderr}`).toContain('a warning');
		expect(channel.last.stderr).toContain('raw stderr');
		expect(data.values).toEqual(HOSTILE);
		// pwsh 7 keeps a one-item array as an array where 5.1 unwraps it; asArray reads both.
		expect(asArray(data.one)).toEqual([HOSTILE[0]]);
		expect((data.big as string).length).toBe(4 * 2 ** 20);
		expect(asDate(data.date)?.toISOString()).toBe('2026-01-02T03:04:05.000Z');
	}, 120_000);

	it('the same process answers the next call: nothing of the last one is left in its output', async () => {
		const first = (await runner.run(NOISY, { values: ['first'], bigLength: 10 })) as { values: unknown };
		const second = (await runner.run(NOISY, { values: ['second'], bigLength: 10 })) as { values: unknown };
		expect([asArray(first.values), asArray(second.values)]).toEqual([['first'], ['second']]);
	}, 60_000);

	it('a terminating error comes back as an error envelope with a UTF-8 message', async () => {
		const name = 'Ünïcødé 名前 😀';
		const failure = runner.run(FAILING, { name });
		await expect(failure).rejects.toThrow(name);
		await expect(failure).rejects.toMatchObject({ name: 'HypervError' });
	}, 60_000);
});
if (pwsh === null) it.skip(`envelopes through pwsh: ${NO_PWSH}`, () => undefined);
