// Parameters travel as base64 of UTF-8 JSON and are decoded inside the constant script; the line
// sent to PowerShell splices in nothing but base64 text ([A-Za-z0-9+/=]), which cannot close a
// single-quoted string or start code. This is the whole injection defence, so it is kept tiny.
import { LOCAL_LAUNCHER, REMOTE_LAUNCHER } from './scripts.ts';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function toBase64(text: string): string {
	return Buffer.from(text, 'utf8').toString('base64');
}

/** JSON the way the script receives it. `undefined` properties vanish, as in JSON. */
export function encodeParams(params: unknown): string {
	return toBase64(JSON.stringify(params ?? {}));
}

/** The inverse, exactly as the script does it: UTF-8 bytes of the base64, then JSON. */
export function decodeParams(encoded: string): unknown {
	return JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'));
}

function literal(base64: string): string {
	if (!BASE64.test(base64)) throw new Error('refusing to splice anything but base64 into a PowerShell line');
	return `'${base64}'`;
}

/** `& ([ScriptBlock]::Create(<decoded launcher>)) '<a>' '<b>' …` — one line of ASCII. */
function launch(launcher: string, args: string[]): string {
	const block = `[ScriptBlock]::Create([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String(${literal(toBase64(launcher))})))`;
	return `& (${block}) ${args.map(literal).join(' ')}`;
}

/** The line that runs `scriptText` with `params` in the local PowerShell process. */
export function localInvocation(scriptText: string, params: unknown): string {
	return launch(LOCAL_LAUNCHER, [toBase64(scriptText), encodeParams(params)]);
}

/** The line that runs `scriptText` with `params` on `computer` through PowerShell remoting. */
export function remoteInvocation(scriptText: string, params: unknown, computer: string): string {
	return launch(REMOTE_LAUNCHER, [toBase64(scriptText), encodeParams(params), encodeParams({ computer })]);
}
