// Guest data stays private on Hyper-V (issue 16): the production folder a session creates gets a
// protected ACL granting only SYSTEM, Administrators and Hyper-V Administrators (then the VM's own
// account), and every file the driver creates lies inside it, so it inherits exactly that; an
// existing production folder that grants more is reported by pre-flight. The ACL is SDDL text
// built by the prelude: read here as data, and built by a real pwsh where there is one (pwsh
// off Windows has no ACL API, so what is checked is the rule list, not the OS's effect).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyJobs, planParams } from '../../source/hosts/hyperv/plan-params.ts';
import { SCRIPTS } from '../../source/hosts/hyperv/scripts.ts';
import { findPwsh, NO_PWSH } from '../hyperv/pwsh.ts';
import { samplePlan } from '../hyperv/support.ts';

const PRIVATE = new Map([
	['S-1-5-18', 'SYSTEM'],
	['S-1-5-32-544', 'Administrators'],
	['S-1-5-32-578', 'Hyper-V Administrators'],
]);

const prelude = await fs.readFile(new URL('../../source/hosts/hyperv/scripts/prelude.ps1', import.meta.url), 'utf8');
/** The prelude's private-storage block: pure PowerShell up to the parts that need Windows. */
const aclBlock = prelude.slice(prelude.indexOf('# ---- private storage'));

interface Ace {
	type: string;
	flags: string;
	rights: string;
	sid: string;
}

/** A DACL in SDDL ("D:PAI(A;OICI;FA;;;SY)…") as data. */
function parseDacl(sddl: string): { protectedDacl: boolean; aces: Ace[] } {
	const match = /^D:([A-Z]*)((?:\([^)]*\))*)$/.exec(sddl);
	if (!match) throw new Error(`not a DACL: ${sddl}`);
	const aces = [...(match[2] ?? '').matchAll(/\(([^)]*)\)/g)].map((ace) => {
		const [type = '', flags = '', rights = '', , , sid = ''] = (ace[1] ?? '').split(';');
		return { type, flags, rights, sid };
	});
	return { protectedDacl: (match[1] ?? '').includes('P'), aces };
}

const pwsh = findPwsh();

function runPwsh(script: string): string {
	return execFileSync(pwsh ?? 'pwsh', ['-NoProfile', '-NonInteractive', '-Command', `${aclBlock}\n${script}`], { encoding: 'utf8' }).trim();
}

function bodyOf(text: string): string {
	return text.slice(text.indexOf('function Invoke-RdBody'));
}

describe('Hyper-V: the ACL of a session’s production folder', () => {
	it('the private set in the prelude is SYSTEM, Administrators and Hyper-V Administrators, nothing else', () => {
		const line = /^\$RdPrivateSids = @\(([^)]*)\)$/m.exec(aclBlock)?.[1] ?? '';
		expect(line.split(',').map((sid) => sid.trim().replace(/'/g, ''))).toEqual([...PRIVATE.keys()]);
	});

	it.skipIf(pwsh === null)('pwsh builds a protected, inherited, full-control DACL for exactly that set', () => {
		const [folder = '', hasAcls = ''] = runPwsh('Get-RdPrivateSddl; Test-RdHasAcls').split(/\r?\n/);
		const parsed = parseDacl(folder);
		expect(parsed.protectedDacl).toBe(true);
		expect(parsed.aces.map((ace) => ace.sid)).toEqual([...PRIVATE.keys()]);
		for (const ace of parsed.aces) expect(ace).toMatchObject({ type: 'A', flags: 'OICI', rights: 'FA' });
		// Off Windows there is nothing to apply: the model's hosts run the scripts without ACLs.
		expect(hasAcls).toBe(process.platform === 'win32' ? 'True' : 'False');
	}, 60_000);

	it.skipIf(pwsh === null)('pre-flight’s reading of an ACL: anyone beyond the private set and the VMs is reported, with the rights found', () => {
		const entries = [
			{ sid: 'S-1-5-18', name: 'NT AUTHORITY\\SYSTEM', rights: 'FullControl', type: 'Allow' },
			{ sid: 'S-1-5-32-544', name: 'BUILTIN\\Administrators', rights: 'FullControl', type: 'Allow' },
			{ sid: 'S-1-5-32-578', name: 'BUILTIN\\Hyper-V Administrators', rights: 'FullControl', type: 'Allow' },
			{ sid: 'S-1-5-83-1-1111-2222-3333-4444', name: 'NT VIRTUAL MACHINE\\1111', rights: 'FullControl', type: 'Allow' },
			{ sid: 'S-1-3-0', name: 'CREATOR OWNER', rights: 'FullControl', type: 'Allow' },
			{ sid: 'S-1-1-0', name: 'Everyone', rights: 'FullControl', type: 'Deny' },
			{ sid: 'S-1-5-32-545', name: 'BUILTIN\\Users', rights: 'ReadAndExecute, Synchronize', type: 'Allow' },
			{ sid: 'S-1-5-11', name: 'NT AUTHORITY\\Authenticated Users', rights: 'Modify, Synchronize', type: 'Allow' },
		];
		const json = Buffer.from(JSON.stringify(entries)).toString('base64');
		const out = runPwsh(`Get-RdWiderAccess ([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('${json}')) | ConvertFrom-Json)`);
		expect(out.split(/\r?\n/)).toEqual(['BUILTIN\\Users (S-1-5-32-545): ReadAndExecute, Synchronize', 'NT AUTHORITY\\Authenticated Users (S-1-5-11): Modify, Synchronize']);
	}, 60_000);

	it.skipIf(pwsh === null)('a folder is the session’s (and gets the ACL) only when it holds nothing but the session’s own entries', async () => {
		const root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-acl-'));
		try {
			const plan = samplePlan();
			const disks = plan.disks.map((disk) => ({ production: path.join(root, path.win32.basename(disk.production)), overlay: path.join(root, 'rundirect-s', path.win32.basename(disk.overlay)) }));
			const params = Buffer.from(JSON.stringify({ disks })).toString('base64');
			const probe = `$P = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('${params}')) | ConvertFrom-Json; Test-RdOwnFolder '${root}' $P`;
			expect(runPwsh(probe)).toBe('True');
			await fs.writeFile(path.join(root, path.basename(disks[0]?.production ?? '')), '');
			await fs.writeFile(`${path.join(root, path.basename(disks[1]?.production ?? ''))}.partial`, '');
			await fs.mkdir(path.join(root, 'rundirect-s'));
			expect(runPwsh(probe)).toBe('True');
			await fs.writeFile(path.join(root, 'old-vm.vhdx'), '');
			expect(runPwsh(probe)).toBe('False');
		} finally {
			await fs.rm(root, { recursive: true, force: true });
		}
	}, 60_000);
	if (pwsh === null) it.skip(`the ACL built by a real pwsh: ${NO_PWSH}`, () => undefined);

	it('every file the driver creates for a session lies in the production folder, so it inherits the private ACL', () => {
		const plan = samplePlan();
		const inside = (file: string) => {
			const relative = path.win32.relative(plan.productionDir, file);
			return relative !== '' && !relative.startsWith('..') && !path.win32.isAbsolute(relative);
		};
		const created = [
			...planParams.createDisks(plan).disks.map((disk) => disk.production),
			planParams.snapshotLayer(plan).workDir,
			...planParams.snapshotLayer(plan).disks.map((disk) => disk.overlay),
			...copyJobs(plan).flatMap((job) => [job.target, job.partial, job.stateFile]),
		];
		expect(created.filter((file) => !inside(file))).toEqual([]);
	});

	it('the scripts protect the folder before creating anything in it, add the VM’s account once it exists, and check an existing folder in pre-flight', () => {
		const createDisks = bodyOf(SCRIPTS.createDisks.text);
		const created = createDisks.indexOf('New-Item -ItemType Directory -Path $P.productionDir');
		const protectedAt = createDisks.indexOf('Protect-RdFolder $P.productionDir');
		expect(created).toBeGreaterThan(0);
		expect(protectedAt).toBeGreaterThan(created);
		expect(protectedAt).toBeLessThan(createDisks.indexOf('New-VHD'));

		const startVm = bodyOf(SCRIPTS.startVm.text);
		const access = startVm.indexOf('Add-RdVmAccess $P.productionDir $vm.Id');
		expect(access).toBeGreaterThan(startVm.indexOf('New-VM '));
		expect(access).toBeLessThan(startVm.indexOf('Add-VMHardDiskDrive'));

		const preflight = bodyOf(SCRIPTS.preflight.text);
		expect(preflight).toMatch(/Get-RdWiderAccess \(Get-RdAclEntries \$P\.productionDir\)/);
		expect(preflight).toContain("Add-Problem 'PRODUCTION_ACL_WIDE'");
	});

	it('no script changes the ACL of anything but a session’s production folder (never a backup)', () => {
		for (const script of Object.values(SCRIPTS)) {
			const body = bodyOf(script.text);
			for (const call of body.matchAll(/\b(Protect-RdFolder|Add-RdVmAccess|Set-RdPrivateAcl|Set-Acl)\b[^\n]*/g)) {
				expect(call[0], `${script.name}: ${call[0]}`).toMatch(/^(Protect-RdFolder|Add-RdVmAccess) \$P\.productionDir\b/);
			}
		}
	});
});
