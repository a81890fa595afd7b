// The contract between the lab guest (built by source/lab-builder, whose /init prints the marker
// once its disk is mounted) and every host that runs it: their proof of life of a session's VM,
// and what a KVM probe booting the lab guest waits for.

/** Printed on the serial console once the guest has mounted its disk. */
export const GUEST_MARKER = 'RUNDIRECT-GUEST-ALIVE';
