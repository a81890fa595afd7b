// The Host contract on the Hyper-V driver, over the recorded-transcript PowerShell double: the
// real driver and runner, a simulated host answering each script from its state (no Windows
// here). It proves the driver by construction only: the double answers as Hyper-V is
// documented to, not as a real host did.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readRestorePoint } from '../../source/catalog/catalog.ts';
import { HypervHost } from '../../source/hosts/hyperv/driver.ts';
import { ChannelRunner } from '../../source/hosts/hyperv/runner.ts';
import { SimulatedHost, TranscriptChannel, writeHypervRestorePoint } from '../hyperv/support.ts';
import { type ContractFixture, hostContract } from './host-contract.ts';
import { planInputFrom, unaccounted } from './support.ts';

async function hypervFixture(): Promise<ContractFixture> {
	const root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-contract-hv-'));
	const point = await readRestorePoint(await writeHypervRestorePoint(path.join(root, 'destination'), { disks: 2 }));
	// A host with one VM, web01, running in production.
	const simulated = new SimulatedHost(2);
	const channel = new TranscriptChannel(simulated);
	const host = new HypervHost({ computer: null, platform: 'win32', pollIntervalMs: 1, heartbeatTimeoutMs: 60_000, runner: new ChannelRunner({ computer: null, hostId: 'hyperv', channel }) });
	return {
		host,
		replacing: planInputFrom(point, '20260101T0101-replace', 'web01'),
		fresh: planInputFrom(point, '20260101T0101-fresh', 'web02'),
		leftovers: async () => unaccounted([...simulated.files], await host.inventory(), path.win32),
		teardown: () => fs.rm(root, { recursive: true, force: true }),
	};
}

hostContract('Hyper-V driver (transcript double)', hypervFixture);
