// Finds a real PowerShell 7 for the tests: `pwsh` on PATH, else the one `node scripts/ensure.mjs
// --pwsh` installs as a .NET tool under the XDG cache. Null when there is none: the PowerShell
// tests are then skipped and say so.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Keep in step with scripts/ensure.mjs. */
export const PWSH_VERSION = '7.6.9';

function toolDir(): string {
	const xdg = process.env.XDG_CACHE_HOME;
	const cache = xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache');
	return path.join(cache, 'rundirect', `pwsh-${PWSH_VERSION}`);
}

let found: string | null | undefined;

export function findPwsh(): string | null {
	if (found !== undefined) return found;
	const candidates = ['pwsh', path.join(toolDir(), 'pwsh')];
	found = null;
	for (const candidate of candidates) {
		if (candidate !== 'pwsh' && !fs.existsSync(candidate)) continue;
		const probe = spawnSync(candidate, ['-NoProfile', '-NonInteractive', '-Command', '$PSVersionTable.PSVersion.Major'], { encoding: 'utf8', timeout: 60_000 });
		if (probe.status === 0 && Number(probe.stdout.trim()) >= 7) {
			found = candidate;
			break;
		}
	}
	return found;
}

/** The reason printed by a skipped PowerShell test. */
export const NO_PWSH = 'skipped: no pwsh found (PATH or the XDG cache); `node scripts/ensure.mjs --pwsh` installs one where dotnet is present';
