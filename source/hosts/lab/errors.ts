// The lab driver's failures: HostErrors with a stable code, so a caller can tell situations
// apart without parsing the message (which is written for the administrator).
import { HostError } from '../../core/errors.ts';

export type LabErrorCode =
	/** No lab VM of that name. */
	| 'NO_SUCH_VM'
	/** The VM belongs to a session (it runs from a backup, or is set aside): that session's steps handle it. */
	| 'VM_IN_SESSION'
	| 'BAD_LOCATION'
	/** A step ran before the one it builds on has completed. */
	| 'STEP_OUT_OF_ORDER'
	/** A VM of the session's name exists and is not the session's. */
	| 'NAME_TAKEN'
	| 'SNAPSHOT_LAYER_DAMAGED'
	| 'LAUNCH_FAILED'
	/** QEMU went away right after it started, or would not go away when told to. */
	| 'QEMU_EXITED'
	| 'QEMU_WONT_EXIT'
	/** QEMU status internal-error: the accelerator cannot run the guest. */
	| 'QEMU_INTERNAL_ERROR'
	/** Step 4: the VM did not keep running (internal-error, shutdown, a reset loop, halted for good); the message holds the evidence. */
	| 'VM_DIED'
	| 'FLUSH_FAILED'
	| 'NO_SPACE'
	| 'COPY_FAILED'
	| 'APPLY_FAILED'
	| 'NOT_SWITCHED'
	| 'JOB_DISAPPEARED'
	| 'JOB_STALLED'
	| 'MOVE_CONFLICT'
	| 'SET_ASIDE_RECORD_INVALID'
	| 'SET_ASIDE_BLOCKED'
	| 'DEFINITION_INVALID'
	/** The run folder cannot hold a QMP socket QEMU accepts (a comma, or too long a path). */
	| 'RUN_FOLDER_UNUSABLE'
	| 'MEASURE_FAILED'
	/** QEMU answered a QMP command with an error (QmpError). */
	| 'QMP_ERROR'
	/** The VM's monitor: not connected, closed (QEMU exited?), silent, or not QMP at all. */
	| 'QMP_NOT_CONNECTED'
	| 'QMP_CLOSED'
	| 'QMP_TIMEOUT'
	| 'QMP_NO_GREETING'
	/** A command inside the guest could not be run: the VM is off, or no guest agent answers. */
	| 'GUEST_EXEC_FAILED'
	/** A TCP check could not probe the guest (not running, no namespace, no address). */
	| 'PROBE_FAILED';

export class LabError extends HostError {
	override name = 'LabError';
	constructor(
		override readonly code: LabErrorCode,
		message: string,
	) {
		super(code, message);
	}
}
