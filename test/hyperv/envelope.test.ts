// Reading Windows PowerShell 5.1's output: the envelope line among other output, its JSON habits
// (single items, {value, Count} arrays, /Date()/, enums as numbers) and error envelopes.
import { describe, expect, it } from 'vitest';
import { asArray, asDate, mapVmState, normalize, parseEnvelope, vmStateName, EnvelopeMissingError } from '../../source/hosts/hyperv/envelope.ts';
import { HypervError } from '../../source/hosts/hyperv/errors.ts';
import { readCopy, readInventory, readPreflight, readVmStatus } from '../../source/hosts/hyperv/results.ts';
import { ChannelRunner } from '../../source/hosts/hyperv/runner.ts';
import { SCRIPTS } from '../../source/hosts/hyperv/scripts.ts';

function runnerAnswering(stdout: string, stderr = ''): ChannelRunner {
	return new ChannelRunner({ computer: 'hv01', hostId: 'hyperv://hv01', channel: { invoke: async () => ({ stdout, stderr }), dispose: async () => undefined } });
}

describe('envelope', () => {
	it('finds the envelope among other output and takes the last one', () => {
		const out = 'WARNING: x\r\nRDENVELOPE {"ok":true,"data":1,"error":null}\r\nnoise\r\nRDENVELOPE {"ok":true,"data":2,"error":null}\r\n';
		expect(parseEnvelope(out)).toEqual({ ok: true, data: 2, error: null });
	});

	it('decodes \\uXXXX-escaped non-ASCII (ConvertTo-RdJson output)', () => {
		const out = 'RDENVELOPE {"ok":true,"data":{"name":"\\u00dcn\\u00efc\\u00f8d\\u00e9 \\u540d\\u524d \\ud83d\\ude00"},"error":null}';
		expect(parseEnvelope(out).data).toEqual({ name: 'Ünïcødé 名前 😀' });
	});

	it('reports a missing envelope with the stderr that explains it', () => {
		expect(() => parseEnvelope('', 'Import-Module : The specified module was not loaded')).toThrow(EnvelopeMissingError);
		expect(() => parseEnvelope('', 'Import-Module : boom')).toThrow(/Import-Module : boom/);
		expect(() => parseEnvelope('RDENVELOPE {broken')).toThrow(/damaged/);
	});

	it('parses error envelopes into code and message', () => {
		const envelope = parseEnvelope('RDENVELOPE {"ok":false,"data":null,"error":{"code":"SWITCH_NOT_FOUND","message":"LAN","type":"System.Exception","category":"NotSpecified","at":"At line:3"}}');
		expect(envelope).toMatchObject({ ok: false, error: { code: 'SWITCH_NOT_FOUND', message: 'LAN', at: 'At line:3' } });
	});

	it('undoes 5.1 array wrapping and single-item unwrapping', () => {
		expect(normalize({ disks: { value: ['a', 'b'], Count: 2 } })).toEqual({ disks: ['a', 'b'] });
		expect(asArray('only')).toEqual(['only']);
		expect(asArray(null)).toEqual([]);
		expect(readInventory({ vms: { name: 'web01', id: 'x', state: 2, session: null, asideBy: null, disks: 'D:\\a.vhdx' } })).toEqual([
			{ name: 'web01', id: 'x', state: 2, session: null, asideBy: null, disks: ['D:\\a.vhdx'] },
		]);
		expect(readCopy({ jobs: { target: 't', status: 'running', done: 5, total: 10, error: null } })).toHaveLength(1);
		expect(readPreflight({ problems: { code: 'NO_SPACE', message: '1 bytes free', subject: 'D:\\VMs' } })).toEqual([{ code: 'NO_SPACE', message: '1 bytes free', subject: 'D:\\VMs' }]);
		expect(readVmStatus({ state: 'Running', heartbeat: null, bytesChanged: '4194304', runsOn: 'backup' })).toMatchObject({ bytesChanged: 4194304, runsOn: ['backup'] });
	});

	it('reads dates as 5.1 writes them and enums as numbers or names', () => {
		// ConvertTo-Json 5.1 writes "\/Date(1767225600000)\/"; JSON.parse makes it "/Date(1767225600000)/".
		expect(asDate(JSON.parse('"\\/Date(1767225600000)\\/"'))?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
		expect(asDate('2026-01-01T00:00:00.0000000Z')?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
		expect(asDate('not a date')).toBeNull();
		expect(vmStateName(2)).toBe('Running');
		expect(vmStateName('Off')).toBe('Off');
		expect(mapVmState(3)).toBe('off');
		expect(mapVmState('Saved')).toBe('paused');
		expect(mapVmState('Running')).toBe('running');
		expect(mapVmState('Other')).toBe('error');
	});

	it('turns error envelopes into specific messages with what to do', async () => {
		const cases: Array<[string, RegExp]> = [
			['HYPERV_MODULE_MISSING', /Install-WindowsFeature Hyper-V-PowerShell/],
			['NOT_ELEVATED', /Run as administrator.*S-1-5-32-578/],
			['VM_NOT_FOUND', /not found on hv01/],
			['PATH_MISSING', /UNC path/],
			['NO_SPACE', /--location/],
			['REMOTE_UNREACHABLE', /Enable-PSRemoting/],
		];
		for (const [code, pattern] of cases) {
			const runner = runnerAnswering(`RDENVELOPE {"ok":false,"data":null,"error":{"code":"${code}","message":"x"}}`);
			const failure = await runner.run(SCRIPTS.inventory, {}).catch((error: unknown) => error);
			expect(failure).toBeInstanceOf(HypervError);
			expect((failure as HypervError).code).toBe(code);
			expect((failure as Error).message).toMatch(pattern);
		}
		const generic = await runnerAnswering('RDENVELOPE {"ok":false,"data":null,"error":{"code":"ERROR","message":"Get-VM : boom","at":"At line:9 char:2"}}')
			.run(SCRIPTS.inventory, {})
			.catch((error: unknown) => error);
		expect((generic as Error).message).toMatch(/inventory failed on hv01: Get-VM : boom/);
		const silent = await runnerAnswering('', 'The term powershell is not recognized').run(SCRIPTS.inventory, {}).catch((error: unknown) => error);
		expect((silent as Error).message).toMatch(/no result envelope.*not recognized/);
	});
});
