// The Host contract on the in-memory host the console's component tests use: it must behave as
// the real hosts do, or those tests prove nothing.
import { planInput } from '../lab-host/helpers.ts';
import { MemoryHost } from '../ui/support/memory-host.ts';
import { type ContractFixture, hostContract } from './host-contract.ts';

const DISK = { backup: '/memory/backups/web01/disk0.qcow2', format: 'qcow2', virtualSize: 64 * 2 ** 20 } as const;

async function memoryFixture(): Promise<ContractFixture> {
	return {
		host: new MemoryHost({ existing: ['web01', 'db01'], copyMs: 20 }),
		replacing: planInput('contract-replace', 'web01', [DISK]),
		fresh: planInput('contract-fresh', 'web02', [DISK]),
		// It keeps no files: its VMs are all there is.
		leftovers: async () => [],
		teardown: async () => {},
	};
}

hostContract('in-memory test host', memoryFixture);
