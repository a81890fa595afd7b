// A 512-byte MBR boot sector that prints a marker on COM1 and halts. It walks the path every
// x86-64 kernel takes (real mode -> 4-level paging -> long mode) and prints from 64-bit
// code, so an accelerator that cannot run it cannot run any guest. Writing THR at 0x3F8
// without programming the UART works on QEMU's 16550 (it ignores the baud rate).
// Verified: prints the marker under TCG (test/lab-host/accel.test.ts). The lab and libvirt hosts
// both probe KVM with it.
//
// Machine code assembled from this source (GNU as --32, objcopy -O binary), loaded at 0x7C00:
//       .code16
//       .org 0
//   start:
//       cli
//       cld
//       xorw %ax, %ax
//       movw %ax, %ds
//       movw %ax, %es
//       movw %ax, %ss
//       movw $0x7c00, %sp
//       /* identity-map the first 2 MiB: PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000 (one 2 MiB page) */
//       movw $0x1000, %di
//       movw $0x1800, %cx
//       xorl %eax, %eax
//       rep stosw
//       movl $0x2003, 0x1000
//       movl $0x3003, 0x2000
//       movl $0x0083, 0x3000
//       movl %cr4, %eax
//       orl $0x20, %eax
//       movl %eax, %cr4
//       movl $0x1000, %eax
//       movl %eax, %cr3
//       movl $0xc0000080, %ecx
//       rdmsr
//       orl $0x100, %eax
//       wrmsr
//       lgdt gdtr+0x7c00
//       movl %cr0, %eax
//       orl $0x80000001, %eax
//       movl %eax, %cr0
//       ljmp $0x08, $long+0x7c00
//       .code64
//   long:
//       movw $0x10, %ax
//       movw %ax, %ds
//       movw %ax, %ss
//       movl $msg+0x7c00, %esi
//       movw $0x3f8, %dx
//   4:    lodsb
//       testb %al, %al
//       jz 5f
//       outb %al, %dx
//       jmp 4b
//   5:    hlt
//       jmp 5b
//       .balign 8
//   gdt:
//       .quad 0
//       .quad 0x00af9a000000ffff
//       .quad 0x00cf92000000ffff
//   gdtr:
//       .word 23
//       .long gdt+0x7c00
//   msg:
//       .ascii "RUNDIRECT-PROBE-ALIVE\r\n\0"
export const BOOT_SECTOR_MARKER = 'RUNDIRECT-PROBE-ALIVE';

const CODE_HEX =
	'fafc31c08ed88ec08ed0bc007cbf0010b900186631c0f3ab66c7060010032000' +
	'0066c70600200330000066c7060030830000000f20e06683c8200f22e066b800' +
	'1000000f22d866b9800000c00f32660d000100000f300f0116a07c0f20c0660d' +
	'010000800f22c0ea6c7c080066b810008ed88ed0bea67c000066baf803ac84c0' +
	'7403eeebf8f4ebfd0000000000000000ffff0000009aaf00ffff00000092cf00' +
	'1700887c000052554e4449524543542d50524f42452d414c4956450d0a00';

export function bootSector(): Buffer {
	const code = Buffer.from(CODE_HEX, 'hex');
	if (code.length > 446 || !code.includes(Buffer.from(BOOT_SECTOR_MARKER, 'latin1'))) throw new Error('boot sector code is malformed');
	const sector = Buffer.alloc(512);
	code.copy(sector, 0);
	sector[510] = 0x55;
	sector[511] = 0xaa;
	return sector;
}

/** SeaBIOS will not boot a one-sector disk: the probe image is the sector padded to 1 MiB. */
export function bootSectorImage(): Buffer {
	const image = Buffer.alloc(1024 * 1024);
	bootSector().copy(image, 0);
	return image;
}
