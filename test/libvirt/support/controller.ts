// A controller process for the libvirt fault tests: the real engine (journal, locks, steps,
// RUNDIRECT_FAULT) driving the libvirt host, as `rundirect --host libvirt` will once the
// registry names it. One command per run, NDJSON on stdout:
//   start <vm> <location> | finalize <session> | stop <session>
// Environment: RD_LV_URI, RD_LV_ROOT (the test env's root), RD_LV_DESTINATION, RD_LV_RATE (bytes/s).
import path from 'node:path';
import { LibvirtHost } from '../../../source/hosts/libvirt/driver.ts';
import { Engine } from '../../../source/restore/engine.ts';
import { errorMessage, RundirectError } from '../../../source/core/errors.ts';
import { libvirtTestHostOptions } from './host-options.ts';

function emit(record: Record<string, unknown>): void {
	process.stdout.write(`${JSON.stringify(record)}\n`);
}

const [command, ref, location] = process.argv.slice(2);
const env = process.env;
if (!env.RD_LV_URI || !env.RD_LV_ROOT || !env.RD_LV_DESTINATION || !command || !ref) {
	console.error('usage: controller.ts start <vm> <location> | finalize <session> | stop <session> (RD_LV_URI, RD_LV_ROOT, RD_LV_DESTINATION set)');
	process.exit(2);
}
const host = new LibvirtHost(libvirtTestHostOptions(env.RD_LV_URI, env.RD_LV_ROOT));
const engine = new Engine({ host, stateDir: host.options.paths.state, destination: env.RD_LV_DESTINATION });
const rateLimit = env.RD_LV_RATE ? Number(env.RD_LV_RATE) : undefined;
try {
	let id = ref;
	if (command === 'start') {
		const proposal = await engine.proposeStart({ vm: ref, location: location ?? path.join(env.RD_LV_ROOT, 'production') });
		if (proposal.resume) emit({ type: 'resume', session: proposal.resume.id });
		const session = await engine.beginStart(proposal);
		id = session.id;
		emit({ type: 'session', session: id });
	} else if (command !== 'finalize' && command !== 'stop') {
		throw new Error(`unknown command ${command}`);
	}
	const phase = command === 'start' ? 'start' : command;
	const done = await engine.runPhase(id, phase, { renderer: 'silent', ...(rateLimit ? { rateLimit } : {}) });
	emit({ type: 'result', session: id, state: done.state });
} catch (error) {
	emit({ type: 'error', message: errorMessage(error) });
	process.exitCode = error instanceof RundirectError ? error.exitCode : 1;
} finally {
	await engine.close();
}
