// Which libvirt a `--host` names, and whether its paths are this machine's. `libvirt` alone
// means $LIBVIRT_DEFAULT_URI (virsh's own variable) or qemu:///system; `libvirt:<uri>` or a
// bare libvirt URI names one explicitly (qemu+ssh://user@server/system for a remote host).
import type { PathRules } from '../capabilities.ts';

export const DEFAULT_URI = 'qemu:///system';

export function isLibvirtSpec(spec: string): boolean {
	return spec === 'libvirt' || spec.startsWith('libvirt:') || /^qemu(\+[a-z]+)?:\/\//.test(spec);
}

export function uriOfSpec(spec: string, env: NodeJS.ProcessEnv = process.env): string {
	if (spec === 'libvirt') return env.LIBVIRT_DEFAULT_URI || DEFAULT_URI;
	if (spec.startsWith('libvirt:')) return spec.slice('libvirt:'.length);
	return spec;
}

/**
 * Local = libvirtd runs on this machine: no host part, or the unix transport (whose host part
 * must be empty). Anything with a host (ssh, tcp, tls) is remote, even 127.0.0.1: its paths are
 * the remote machine's view, which this process cannot assume to share.
 */
export function isLocalUri(uri: string): boolean {
	const match = /^([a-z0-9]+)(?:\+([a-z0-9]+))?:\/\/([^/?]*)/i.exec(uri);
	if (!match) return false;
	const transport = match[2]?.toLowerCase();
	const authority = match[3] ?? '';
	return authority === '' && (transport === undefined || transport === 'unix');
}

export function pathRulesOfUri(uri: string): PathRules {
	return { style: 'posix', local: isLocalUri(uri) };
}
