//! The disk: QEMU's `virtio-blk-pci` on sun4u's PCI bus B (`crate::blk`), driven as a
//! virtio 1.0 ("modern") device, with completion by interrupt.
//!
//! # Theory
//!
//! **Finding it** ([`probe`], at boot, while OpenBIOS's client interface still
//! works): a walk of the device tree finds the PCI host bridge (Sabre: its control
//! registers, its configuration space, the `ranges` that turn PCI addresses into
//! physical ones) and below it the node with virtio's vendor id and a block
//! device's device id: its bus, device and function (`reg`), where OpenBIOS put its
//! BARs (`assigned-addresses`), and which interrupt its pin raises at the host
//! bridge (its bridge's `interrupt-map`). QEMU: `-drive if=none,id=swap,file=IMG,
//! format=raw -device virtio-blk-pci,drive=swap,bus=pciB,addr=3`.
//!
//! **Starting it** ([`init`]): bus mastering on in its command register; its virtio
//! capabilities in configuration space say where in which BAR the common
//! configuration, the notification registers, the interrupt status and the device
//! configuration (the capacity) are; the usual virtio handshake (reset, acknowledge,
//! driver, `VERSION_1` only, features OK, one queue, driver OK); the host bridge's
//! mapping register for its interrupt turned on. Every register is little-endian
//! PCI memory, reached by physical address through the little-endian bypass ASI.
//!
//! **A transfer** is three descriptors of the one queue: a header (read or write,
//! the sector), the buffer (the request's own: the kernel's heap is in the
//! identity-mapped kernel window, and the host bridge's IOMMU is off, so a virtual
//! address is the device's DMA address), a status byte. The queue, the headers and
//! the status bytes are in one page of the kernel image. The request stays in a slot
//! until the device puts its head in the used ring; then it goes to the done list,
//! buffer and status with it, for `blk_reap`.
//!
//! **The interrupt**: Sabre turns the device's INTx into an interrupt vector trap
//! (0x60) whose data word names the interrupt (INO). The handler ([`vector`]) takes
//! the vector (clearing the CPU's receive register, which also lets the clock's
//! interrupts through again), reads the device's interrupt status (which lowers
//! INTx), moves finished requests to the done list, clears the interrupt at Sabre,
//! and calls the kernel's `blk_intr`. `blk_reap` looks at the used ring too, so a
//! completion whose interrupt is late is not missed.

use core::arch::asm;
use core::cell::UnsafeCell;
use core::sync::atomic::Ordering;

use spin::{Mutex, Once};

use super::asi;
use super::prom::{self, Node};
use crate::blk::{BlkDone, BlkError, BlkOp, BlkRequest};

/// PCI ids of a virtio block device: the transitional and the modern one.
const VIRTIO_VENDOR: u32 = 0x1af4;
const BLK_DEVICES: [u32; 2] = [0x1001, 0x1042];

/// What the device tree says about the disk.
#[derive(Debug, Clone, Copy)]
struct Found {
    /// Its PCI configuration space (physical address).
    cfg: u64,
    /// Where each of its BARs is (physical), if OpenBIOS assigned it.
    bars: [Option<u64>; 6],
    /// Its interrupt at the host bridge (INO).
    ino: u32,
    /// The host bridge's control registers (physical).
    ctrl: u64,
}

static FOUND: Once<Found> = Once::new();

/// The PCI host bridge, as the walk met it.
#[derive(Clone, Copy)]
struct Host {
    ctrl: u64,
    cfg: u64,
    /// `ranges`: (PCI space code, PCI address, physical address, size).
    ranges: [(u32, u64, u64, u64); 4],
    nranges: usize,
    /// Its interrupt parent's `#interrupt-cells`.
    icells: usize,
}

impl Host {
    /// The physical address of PCI address `addr` of space `space` (2: 32-bit memory,
    /// 3: 64-bit memory, which OpenBIOS puts below 4 GiB, in the 32-bit window).
    fn translate(&self, space: u32, addr: u64) -> Option<u64> {
        self.ranges[..self.nranges]
            .iter()
            .filter(|r| r.0 == space || (space == 3 && r.0 == 2))
            .find(|r| addr >= r.1 && addr - r.1 < r.3)
            .map(|r| r.2 + (addr - r.1))
    }
}

/// Whether node `n` has property `prop` equal to `value` (a string).
fn is(n: Node, prop: &core::ffi::CStr, value: &[u8]) -> bool {
    let mut buf = [0u8; 16];
    n.getprop(prop, &mut buf)
        .is_some_and(|len| buf[..len].strip_suffix(&[0]).unwrap_or(&buf[..len]) == value)
}

/// The host bridge `n` is, if it is one: a `pci` node with `ranges`, and two `reg`
/// entries (2 address and 2 size cells: its parent is the root), its control
/// registers and its configuration space.
fn host_of(n: Node) -> Option<Host> {
    if !is(n, c"device_type", b"pci") {
        return None;
    }
    let mut reg = [0u32; 8];
    if n.cells(c"reg", &mut reg)? < 8 {
        return None;
    }
    let addr = |i: usize| u64::from(reg[i]) << 32 | u64::from(reg[i + 1]);
    let mut cells = [0u32; 28];
    let n_cells = n.cells(c"ranges", &mut cells)?;
    let mut host = Host {
        ctrl: addr(0),
        cfg: addr(4),
        ranges: [(0, 0, 0, 0); 4],
        nranges: 0,
        icells: n.cell(c"#interrupt-cells").unwrap_or(1) as usize,
    };
    // Each range: 3 cells of PCI address, 2 of physical address, 2 of size.
    for r in cells[..n_cells].chunks_exact(7).take(4) {
        let wide = |i: usize| u64::from(r[i]) << 32 | u64::from(r[i + 1]);
        host.ranges[host.nranges] = ((r[0] >> 24) & 3, wide(1), wide(3), wide(5));
        host.nranges += 1;
    }
    Some(host)
}

/// The disk, if node `n` (child of `parent`, below `host`) is it.
fn disk_at(n: Node, parent: Node, host: &Host) -> Option<Found> {
    if n.cell(c"vendor-id")? != VIRTIO_VENDOR || !BLK_DEVICES.contains(&n.cell(c"device-id")?) {
        return None;
    }
    let mut reg = [0u32; 5];
    n.cells(c"reg", &mut reg)?;
    let unit = reg[0];
    let (bus, devfn) = (u64::from((unit >> 16) & 0xff), u64::from((unit >> 8) & 0xff));
    let mut bars = [None; 6];
    let mut assigned = [0u32; 30];
    let n_assigned = n.cells(c"assigned-addresses", &mut assigned)?;
    for a in assigned[..n_assigned].chunks_exact(5) {
        let (space, bar) = ((a[0] >> 24) & 3, (a[0] & 0xff) as usize);
        let index = bar.checked_sub(0x10).map(|b| b / 4).filter(|&i| i < 6)?;
        bars[index] = host.translate(space, u64::from(a[1]) << 32 | u64::from(a[2]));
    }
    // Its pin through its bridge's interrupt map: (unit address, pin) masked, then
    // the interrupt parent's phandle and its interrupt.
    let pin = n.cell(c"interrupts").unwrap_or(1);
    let mut mask = [0u32; 4];
    let mut map = [0u32; 60];
    parent.cells(c"interrupt-map-mask", &mut mask)?;
    let n_map = parent.cells(c"interrupt-map", &mut map)?;
    let key = [unit & mask[0], 0, 0, pin & mask[3]];
    let ino =
        map[..n_map].chunks_exact(5 + host.icells).find(|e| e[..4] == key).map(|e| e[5] & 0x3f)?;
    Some(Found { cfg: host.cfg + (bus << 16) + (devfn << 8), bars, ino, ctrl: host.ctrl })
}

/// Looks for the disk below `n` and its siblings.
fn walk(n: Node, parent: Option<Node>, host: Option<&Host>) -> Option<Found> {
    let mut cur = Some(n);
    while let Some(node) = cur {
        let found = match (host, parent) {
            (Some(h), Some(p)) => disk_at(node, p, h),
            _ => None,
        };
        if found.is_some() {
            return found;
        }
        let mine = if host.is_none() { host_of(node) } else { None };
        if let Some(c) = node.child() {
            if let Some(f) = walk(c, Some(node), mine.as_ref().or(host)) {
                return Some(f);
            }
        }
        cur = node.peer();
    }
    None
}

/// Finds the disk in OpenBIOS's device tree. At boot, before the kernel's trap
/// table replaces OpenBIOS's.
pub fn probe() {
    if let Some(found) = prom::root().and_then(|r| walk(r, None, None)) {
        FOUND.call_once(|| found);
    }
}

// ---- The device -------------------------------------------------------------------

/// Entries of the queue, and requests in flight at once (three descriptors each).
const QSIZE: usize = 16;
const SLOTS: usize = QSIZE / 3;

/// The page the device reads and writes by DMA: the queue's descriptors, its
/// available and used rings, the requests' headers and status bytes.
const DESC: usize = 0;
const AVAIL: usize = 256;
const USED: usize = 512;
const HEADERS: usize = 1024;
const STATUS: usize = 2048;

#[repr(C, align(8192))]
struct DmaPage(UnsafeCell<[u8; 8192]>);

// SAFETY: the page is written only under the disk's lock (with interrupts off), and
// by the device; every access is volatile.
unsafe impl Sync for DmaPage {}

static DMA: DmaPage = DmaPage(UnsafeCell::new([0; 8192]));

/// The physical (= virtual: the kernel window) address of byte `off` of the page.
fn dma(off: usize) -> u64 {
    DMA.0.get() as u64 + off as u64
}

/// Writes `v` at byte `off` of the page, little-endian.
fn dma_write<const N: usize>(off: usize, v: [u8; N]) {
    let p = DMA.0.get().cast::<u8>();
    for (i, b) in v.into_iter().enumerate() {
        // SAFETY: `off + i` is inside the page (callers use the offsets above, well
        // within 8 KiB); volatile, as the device reads it.
        unsafe { p.add(off + i).write_volatile(b) };
    }
}

/// Reads `N` bytes at byte `off` of the page.
fn dma_read<const N: usize>(off: usize) -> [u8; N] {
    let p = DMA.0.get().cast::<u8>();
    // SAFETY: as in `dma_write`; volatile, as the device writes it.
    core::array::from_fn(|i| unsafe { p.add(off + i).read_volatile() })
}

/// Orders the CPU's memory accesses against the device's.
fn membar() {
    // SAFETY: a barrier has no other effect.
    unsafe { asm!("membar #Sync", options(nostack)) };
}

/// Offsets in the common configuration (virtio 1.0, 4.1.4.3).
mod common {
    pub const DFSELECT: u64 = 0x00;
    pub const DF: u64 = 0x04;
    pub const GFSELECT: u64 = 0x08;
    pub const GF: u64 = 0x0c;
    pub const STATUS: u64 = 0x14;
    pub const Q_SELECT: u64 = 0x16;
    pub const Q_SIZE: u64 = 0x18;
    pub const Q_ENABLE: u64 = 0x1c;
    pub const Q_NOFF: u64 = 0x1e;
    pub const Q_DESC: u64 = 0x20;
    pub const Q_DRIVER: u64 = 0x28;
    pub const Q_DEVICE: u64 = 0x30;
}

/// Device status bits.
const ACKNOWLEDGE: u8 = 1;
const DRIVER: u8 = 2;
const DRIVER_OK: u8 = 4;
const FEATURES_OK: u8 = 8;

/// Descriptor flags.
const DESC_NEXT: u16 = 1;
const DESC_WRITE: u16 = 2;

/// Where the kernel window ends: everything the device reads or writes is below.
const WINDOW_END: u64 = super::mmu::KERNEL_END;

/// The started device.
struct Disk {
    found: Found,
    isr: u64,
    notify: u64,
    capacity: u64,
    avail_idx: u16,
    last_used: u16,
    inflight: [Option<BlkRequest>; SLOTS],
    /// Finished requests, oldest first: the first `ndone`.
    done: [Option<BlkDone>; SLOTS],
    ndone: usize,
}

static DISK: Mutex<Option<Disk>> = Mutex::new(None);

/// Runs `f` on the disk, if it was started, with interrupts off.
fn with_disk<R>(f: impl FnOnce(&mut Disk) -> R) -> Option<R> {
    let was = super::intr_disable();
    let r = DISK.lock().as_mut().map(f);
    super::intr_restore(was);
    r
}

/// A 32-bit register of PCI configuration space.
fn cfg_read(found: &Found, reg: u64) -> u32 {
    asi::read32_le(found.cfg + reg)
}

/// The virtio capabilities: (type, bar, offset, and for notifications the
/// multiplier), from configuration space.
fn capabilities(found: &Found, mut each: impl FnMut(u8, usize, u64, u32)) {
    let mut at = u64::from(cfg_read(found, 0x34) & 0xfc);
    // A list of at most 48 capabilities (256 bytes of space, 4 at least each).
    for _ in 0..48 {
        if at == 0 {
            break;
        }
        let head = cfg_read(found, at);
        if head & 0xff == 0x09 {
            let (kind, bar) = ((head >> 24) as u8, (cfg_read(found, at + 4) & 0xff) as usize);
            let offset = u64::from(cfg_read(found, at + 8));
            let mult = if kind == 2 { cfg_read(found, at + 16) } else { 0 };
            each(kind, bar, offset, mult);
        }
        at = u64::from((head >> 8) & 0xfc);
    }
}

/// Starts the disk the probe found, if any (after the kernel's trap table is in).
/// `Err` says why there is none to use.
pub fn init() -> Result<u64, &'static str> {
    let found = *FOUND.get().ok_or("no virtio-blk device in the device tree")?;
    // The host bridge's IOMMU must be off: DMA addresses are physical ones.
    let iommu = asi::read64(found.ctrl + 0x200);
    if iommu & 1 != 0 {
        asi::write64(found.ctrl + 0x200, iommu & !1);
    }
    // Memory space and bus mastering on.
    let cmd = cfg_read(&found, 0x04);
    asi::write32_le(found.cfg + 0x04, (cmd & 0xffff) | 0x6);
    let (mut common_at, mut isr_at, mut notify_at, mut device_at) = (None, None, None, None);
    let mut mult = 0;
    capabilities(&found, |kind, bar, offset, m| {
        let at = found.bars.get(bar).copied().flatten().map(|b| b + offset);
        match kind {
            1 => common_at = at,
            2 => {
                notify_at = at;
                mult = m;
            }
            3 => isr_at = at,
            4 => device_at = at,
            _ => {}
        }
    });
    let (Some(common), Some(isr), Some(notify), Some(device)) =
        (common_at, isr_at, notify_at, device_at)
    else {
        return Err("virtio-blk without the virtio 1.0 capabilities");
    };
    let status = |s: u8| asi::write8(common + common::STATUS, s);
    status(0);
    // A reset is done when the status reads 0 again (QEMU's at once).
    if (0..1_000_000).all(|_| asi::read8(common + common::STATUS) != 0) {
        return Err("virtio-blk does not reset");
    }
    status(ACKNOWLEDGE);
    status(ACKNOWLEDGE | DRIVER);
    asi::write32_le(common + common::DFSELECT, 1);
    if asi::read32_le(common + common::DF) & 1 == 0 {
        return Err("virtio-blk without VERSION_1");
    }
    asi::write32_le(common + common::GFSELECT, 0);
    asi::write32_le(common + common::GF, 0);
    asi::write32_le(common + common::GFSELECT, 1);
    asi::write32_le(common + common::GF, 1);
    status(ACKNOWLEDGE | DRIVER | FEATURES_OK);
    if asi::read8(common + common::STATUS) & FEATURES_OK == 0 {
        return Err("virtio-blk refused the features");
    }
    asi::write16_le(common + common::Q_SELECT, 0);
    let max = asi::read16_le(common + common::Q_SIZE);
    if usize::from(max) < QSIZE {
        return Err("virtio-blk queue too small");
    }
    if dma(HEADERS) + (SLOTS * 16) as u64 > WINDOW_END {
        return Err("the DMA page is outside the kernel window");
    }
    asi::write16_le(common + common::Q_SIZE, QSIZE as u16);
    for (reg, at) in [(common::Q_DESC, DESC), (common::Q_DRIVER, AVAIL), (common::Q_DEVICE, USED)] {
        asi::write32_le(common + reg, dma(at) as u32);
        asi::write32_le(common + reg + 4, (dma(at) >> 32) as u32);
    }
    asi::write16_le(common + common::Q_ENABLE, 1);
    let notify = notify + u64::from(asi::read16_le(common + common::Q_NOFF)) * u64::from(mult);
    status(ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
    let capacity = u64::from(asi::read32_le(device)) | u64::from(asi::read32_le(device + 4)) << 32;
    // The host bridge sends the device's interrupt on (Sabre's mapping register of
    // its slot: the valid bit).
    let imr = found.ctrl + 0xc00 + u64::from(found.ino >> 2) * 8 + 4;
    asi::write32(imr, 0x8000_0000 | (0x1f << 6) | found.ino);
    *DISK.lock() = Some(Disk {
        found,
        isr,
        notify,
        capacity,
        avail_idx: 0,
        last_used: 0,
        inflight: [const { None }; SLOTS],
        done: [const { None }; SLOTS],
        ndone: 0,
    });
    Ok(capacity)
}

/// The disk's size in sectors, if it was started.
pub fn sectors() -> Option<u64> {
    with_disk(|d| d.capacity)
}

impl Disk {
    /// Hands `req` to the device in slot `slot`.
    fn start(&mut self, slot: usize, req: BlkRequest) {
        let (head, data, stat) = (3 * slot, 3 * slot + 1, 3 * slot + 2);
        let hdr = HEADERS + 16 * slot;
        let kind: u32 = match req.op {
            BlkOp::Read => 0,
            BlkOp::Write => 1,
        };
        dma_write(hdr, kind.to_le_bytes());
        dma_write(hdr + 4, 0u32.to_le_bytes());
        dma_write(hdr + 8, req.sector.to_le_bytes());
        dma_write(STATUS + slot, [0xffu8]);
        let buf = req.buf.bytes();
        let into_buf = if req.op == BlkOp::Read { DESC_WRITE } else { 0 };
        let descs = [
            (dma(hdr), 16, DESC_NEXT, data),
            (buf.as_ptr() as u64, buf.len() as u32, DESC_NEXT | into_buf, stat),
            (dma(STATUS + slot), 1, DESC_WRITE, 0),
        ];
        for (i, (addr, len, flags, next)) in descs.into_iter().enumerate() {
            let at = DESC + 16 * (head + i);
            dma_write(at, addr.to_le_bytes());
            dma_write(at + 8, len.to_le_bytes());
            dma_write(at + 12, flags.to_le_bytes());
            dma_write(at + 14, (next as u16).to_le_bytes());
        }
        let ring = AVAIL + 4 + 2 * (usize::from(self.avail_idx) % QSIZE);
        dma_write(ring, (head as u16).to_le_bytes());
        membar();
        self.avail_idx = self.avail_idx.wrapping_add(1);
        dma_write(AVAIL + 2, self.avail_idx.to_le_bytes());
        membar();
        self.inflight[slot] = Some(req);
        asi::write16_le(self.notify, 0);
    }

    /// Moves the requests the device has finished to the done list.
    fn collect(&mut self) {
        membar();
        let used = u16::from_le_bytes(dma_read(USED + 2));
        while self.last_used != used {
            let e = USED + 4 + 8 * (usize::from(self.last_used) % QSIZE);
            let id = u32::from_le_bytes(dma_read(e)) as usize;
            self.last_used = self.last_used.wrapping_add(1);
            let slot = id / 3;
            let Some(req) = self.inflight.get_mut(slot).and_then(Option::take) else { continue };
            let ok = dma_read::<1>(STATUS + slot)[0] == 0;
            // Room: a request is started only while in flight and done are fewer
            // than the slots.
            self.done[self.ndone] =
                Some(BlkDone::of(req, if ok { Ok(()) } else { Err(BlkError::Io) }));
            self.ndone += 1;
        }
    }

    /// The oldest finished request.
    fn pop_done(&mut self) -> Option<BlkDone> {
        if self.ndone == 0 {
            return None;
        }
        let first = self.done[0].take();
        self.done[..self.ndone].rotate_left(1);
        self.ndone -= 1;
        first
    }
}

/// `Machine::blk_submit`.
pub fn submit(req: BlkRequest) -> Result<(), (BlkRequest, BlkError)> {
    let mut req = Some(req);
    let refused = with_disk(|d| {
        let r = req.take()?;
        if !r.fits(d.capacity) {
            return Some((r, BlkError::BadRange));
        }
        let end = r.buf.bytes().as_ptr() as u64 + r.buf.bytes().len() as u64;
        if end > WINDOW_END {
            return Some((r, BlkError::BadRange));
        }
        let busy = d.inflight.iter().flatten().count() + d.ndone;
        let free = (0..SLOTS).find(|&s| d.inflight[s].is_none()).filter(|_| busy < SLOTS);
        match free {
            Some(slot) => {
                d.start(slot, r);
                None
            }
            None => Some((r, BlkError::Busy)),
        }
    });
    match (refused, req) {
        (Some(Some(r)), _) => Err(r),
        (Some(None), _) => Ok(()),
        (None, Some(r)) => Err((r, BlkError::NoDevice)),
        (None, None) => Ok(()),
    }
}

/// `Machine::blk_reap`: the oldest finished request, if any.
pub fn reap() -> Option<BlkDone> {
    with_disk(|d| {
        d.collect();
        d.pop_done()
    })
    .flatten()
}

/// The interrupt vector trap (0x60), from the kernel or from user mode, interrupts
/// off: takes the vector; the disk's goes to the kernel.
pub fn vector() {
    // The vector's data word, then the CPU's receive register cleared: a new
    // vector (and the clock, which waits behind a vector) may come.
    let data: u64;
    // SAFETY: reading ASI_INTR_R's first data word and clearing ASI_INTR_RECEIVE
    // only acknowledges the interrupt being taken; no memory is touched.
    unsafe {
        asm!(
            "ldxa [{d}] 0x7f, {data}",
            "stxa %g0, [%g0] 0x49",
            "membar #Sync",
            d = in(reg) 0x40u64,
            data = out(reg) data,
            options(nostack)
        );
    }
    super::clock::INTERRUPTS.fetch_add(1, Ordering::SeqCst);
    let ino = (data & 0x3f) as u32;
    let ours = with_disk(|d| {
        if d.found.ino != ino {
            return false;
        }
        // Reading the status lowers the device's INTx; then Sabre forgets it.
        let _ = asi::read8(d.isr);
        d.collect();
        asi::write32(d.found.ctrl + 0x1400 + u64::from(ino) * 8 + 4, 0);
        true
    });
    if ours == Some(true) {
        if let Some(up) = super::UPCALLS.get() {
            (up.blk_intr)();
        }
    }
}
