// Hostile values never reach code: the script text is the same whatever the values, the line
// sent to PowerShell splices in nothing but base64, and decoding gives the values back exactly.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { decodeParams, encodeParams, localInvocation, remoteInvocation } from '../../source/hosts/hyperv/encoding.ts';
import { planParams } from '../../source/hosts/hyperv/plan-params.ts';
import { SCRIPTS } from '../../source/hosts/hyperv/scripts.ts';
import { findPwsh, NO_PWSH } from './pwsh.ts';
import { decodeLine, HOSTILE, lineLiterals, samplePlan } from './support.ts';

function stripLiterals(line: string): string {
	return line.replace(/'[A-Za-z0-9+/=]*'/g, "'…'");
}

describe('parameters travel as data', () => {
	it('the script text and the line shape are identical whatever the values', () => {
		const reference = planParams.startVm(samplePlan());
		const referenceLine = localInvocation(SCRIPTS.startVm.text, reference);
		for (const hostile of HOSTILE) {
			const params = planParams.startVm(samplePlan({}, hostile));
			const line = localInvocation(SCRIPTS.startVm.text, params);
			expect(stripLiterals(line)).toBe(stripLiterals(referenceLine));
			// The launcher and the script are the same bytes; only the parameter literal differs.
			expect(lineLiterals(line).slice(0, 2)).toEqual(lineLiterals(referenceLine).slice(0, 2));
			expect(line).toMatch(/^[\x20-\x7e]+$/);
			if (hostile.length > 2) expect(line).not.toContain(hostile);
		}
	});

	it('decoding the parameters (as the script does) gives the values back exactly', () => {
		for (const hostile of HOSTILE) {
			const params = { name: hostile, list: [hostile], nested: { deep: [hostile, null, 1] } };
			expect(decodeParams(encodeParams(params))).toEqual(params);
			const plan = samplePlan({}, hostile);
			const decoded = decodeLine(localInvocation(SCRIPTS.startVm.text, planParams.startVm(plan)));
			expect(decoded.params.secureBootTemplate).toBe(hostile);
			expect((decoded.params.nics as Array<{ switch: string }>)[0]?.switch).toBe(hostile);
			expect(decoded.params.productionDir).toBe(plan.productionDir);
		}
	});

	it('the remote target is data too', () => {
		const line = remoteInvocation(SCRIPTS.vmStatus.text, { x: "'; Stop-Computer" }, 'hv01.example.org');
		expect(line).toMatch(/^[\x20-\x7e]+$/);
		expect(decodeLine(line).computer).toBe('hv01.example.org');
		expect(decodeLine(line).params).toEqual({ x: "'; Stop-Computer" });
	});

	it('refuses to splice anything but base64', async () => {
		const { toBase64 } = await import('../../source/hosts/hyperv/encoding.ts');
		expect(toBase64("'")).toMatch(/^[A-Za-z0-9+/=]+$/);
	});

	const shell = findPwsh();
	it.skipIf(shell === null)('round-trips through a real PowerShell (pwsh)', () => {
		// One process for the whole corpus (a pwsh start costs about a second).
		const encoded = encodeParams({ values: HOSTILE });
		const script = `foreach ($v in ([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('${encoded}')) | ConvertFrom-Json).values) { [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($v)) }`;
		const out = execFileSync(shell ?? 'pwsh', ['-NoProfile', '-NonInteractive', '-Command', script], { encoding: 'utf8' }).trim().split(/\r?\n/);
		expect(out.map((line) => Buffer.from(line, 'base64').toString('utf8'))).toEqual(HOSTILE);
	}, 60_000);
	if (shell === null) it.skip(`round-trip through pwsh: ${NO_PWSH}`, () => undefined);
});
