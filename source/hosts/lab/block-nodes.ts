// The block graph of a running session VM, as QMP shows it: which nodes exist, adding a
// disk's production nodes, flushing a node, and which devices already run on production.
// Node names are those of runtime.ts (nodeNames).
import { LabError } from './errors.ts';
import type { QmpClient } from './qmp.ts';
import { nodeNames } from './runtime.ts';

interface NamedNode {
	'node-name': string;
}

interface BlockInfo {
	qdev?: string;
	inserted?: { 'node-name'?: string };
}

export async function namedNodes(qmp: QmpClient): Promise<Set<string>> {
	const nodes = await qmp.execute<NamedNode[]>('query-named-block-nodes', { flat: true });
	return new Set(nodes.map((node) => node['node-name']));
}

export async function addProductionNodes(qmp: QmpClient, index: number, file: string): Promise<void> {
	const names = nodeNames(index);
	await qmp.execute('blockdev-add', { driver: 'file', filename: file, 'node-name': names.prodFile, discard: 'unmap' });
	await qmp.execute('blockdev-add', { driver: 'qcow2', file: names.prodFile, 'node-name': names.prod, discard: 'unmap', 'detect-zeroes': 'unmap' });
}

export async function flushNode(qmp: QmpClient, node: string): Promise<void> {
	// REQUIRED: a concluded backup job has not flushed its target; a crash would lose data.
	const output = await qmp.execute<string>('human-monitor-command', { 'command-line': `qemu-io ${node} "flush"` });
	if (output.trim()) throw new LabError('FLUSH_FAILED', `Flushing ${node} failed: ${output.trim()}`);
}

/** Indexes of the disks whose device runs on its production node. */
export async function disksOnProduction(qmp: QmpClient): Promise<Set<number>> {
	const blocks = await qmp.execute<BlockInfo[]>('query-block');
	const result = new Set<number>();
	for (const block of blocks) {
		// virtio-blk shows its backend's QOM path; ide-hd and scsi-hd show their id.
		const match = /^(?:\/machine\/peripheral\/)?vd(\d+)(?:\/|$)/.exec(block.qdev ?? '');
		const index = match?.[1] === undefined ? NaN : Number(match[1]);
		if (!Number.isNaN(index) && block.inserted?.['node-name'] === nodeNames(index).prod) result.add(index);
	}
	return result;
}
