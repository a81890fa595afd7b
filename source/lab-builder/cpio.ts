// A writer for the cpio "newc" format, the one the Linux kernel unpacks as an initramfs.
// Written here rather than run through the `cpio` command: a fresh machine may not have it,
// and building the archive in memory needs no root for device nodes (they are just headers).
export interface CpioEntry {
	/** Path inside the archive, without a leading slash ("bin/busybox"). */
	readonly name: string;
	readonly type: 'file' | 'dir' | 'symlink' | 'char';
	/** Permission bits (0o755 …); ignored for symlinks. */
	readonly mode?: number;
	/** File contents, or the target of a symlink. */
	readonly data?: Uint8Array | string;
	/** Device numbers of a character device. */
	readonly major?: number;
	readonly minor?: number;
}

const TYPE_BITS = { file: 0o100000, dir: 0o040000, symlink: 0o120000, char: 0o020000 } as const;

function hex8(value: number): string {
	return value.toString(16).padStart(8, '0');
}

function pad4(length: number): Buffer {
	return Buffer.alloc((4 - (length % 4)) % 4);
}

function record(ino: number, mode: number, name: string, data: Buffer, rdevMajor = 0, rdevMinor = 0, nlink = 1): Buffer[] {
	const nameBytes = Buffer.from(`${name}\0`, 'utf8');
	// Fixed mtime and owner (root): the archive is byte-for-byte reproducible.
	const header = Buffer.from(
		'070701' +
			[ino, mode, 0, 0, nlink, 0, data.length, 0, 0, rdevMajor, rdevMinor, nameBytes.length, 0].map(hex8).join(''),
		'ascii',
	);
	return [header, nameBytes, pad4(header.length + nameBytes.length), data, pad4(data.length)];
}

export function writeCpio(entries: readonly CpioEntry[]): Buffer {
	const parts: Buffer[] = [];
	entries.forEach((entry, index) => {
		const permissions = entry.type === 'symlink' ? 0o777 : (entry.mode ?? (entry.type === 'dir' ? 0o755 : 0o644));
		const data = entry.data === undefined ? Buffer.alloc(0) : Buffer.from(entry.data);
		parts.push(
			...record(index + 1, TYPE_BITS[entry.type] | permissions, entry.name, data, entry.major ?? 0, entry.minor ?? 0, entry.type === 'dir' ? 2 : 1),
		);
	});
	parts.push(...record(0, 0, 'TRAILER!!!', Buffer.alloc(0)));
	return Buffer.concat(parts);
}
