# gdb helpers for the LWP kernel, in the style of Linux's scripts/gdb (lx-ps):
# they read the kernel's own structures through QEMU's gdb stub, with the DWARF
# types of the kernel image, and print them as kmdb does.
#
#   lwp-ps             the processes (kmdb's ::ps): from proc 0 down its children
#   lwp-threads        every kernel thread (kmdb's ::threadlist): the list of all
#                      thread structures, kern::thread::ALLTHREADS
#   lwp-stack THREAD   the kernel stack of a switched-out thread (kmdb's
#                      ::findstack): from the pc, %fp and %i7 its last switch kept,
#                      through the register-window save areas on its stack
#
# scripts/debug loads this file; by hand: source scripts/gdb/lwp.py. The kernel must
# be stopped (gdb's attach stops QEMU's CPU). What is read is what memory holds:
# a thread running on the CPU has its windows in the CPU, not on its stack (use
# bt for it). scripts/test-gdb checks these listings against kmdb's.

import gdb

STACK_BIAS = 2047
# The thread states (kern::thread::ThreadState) and classes (SchedClass), by value.
STATES = ["free", "run", "onproc", "zomb", "sleep", "stopped"]
CLASSES = ["SYS", "TS", "RT"]
# sleepq::SObj by value, and sync::turnstile::WaitKind.
SOBJS = ["sleepq", "cv", "sema", "event", "delay"]
WAITKINDS = ["mutex", "rw-read", "rw-write"]


def field_names(v):
    t = v.type.strip_typedefs()
    if t.code != gdb.TYPE_CODE_STRUCT:
        return []
    return [f.name for f in t.fields()]


def num(v):
    """An integer through the cells that wrap it: AtomicU8 {v: UnsafeCell {value}}."""
    names = field_names(v)
    for inner in ("v", "value", "p"):
        if inner in names:
            return num(v[inner])
    return int(v)


def word(v):
    """The machine word a pointer-sized value holds: a pointer, a StaticRef, or an
    Option<&T> (null for None)."""
    names = field_names(v)
    for inner in ("ptr", "p", "value"):
        if inner in names:
            return word(v[inner])
    if v.type.strip_typedefs().code == gdb.TYPE_CODE_PTR:
        return int(v)
    return int(v.address.cast(gdb.lookup_type("u64").pointer()).dereference())


def deref(addr, typename):
    return gdb.Value(addr).cast(gdb.lookup_type(typename).pointer()).dereference()


def rust_str(v):
    n = int(v["length"])
    return v["data_ptr"].string("utf-8", "replace", n) if n else ""


def thread_name(t):
    return rust_str(t["t_name"]["inner"]["data"]["value"])


def addr_of(v):
    return int(v.address)


# ---- processes ----------------------------------------------------------------------

def procs():
    """Proc 0 and every process below it (orphans are proc 0's), parents first."""
    proc0 = gdb.parse_and_eval("kern::proc::PROC0")
    out = []
    todo = [proc0]
    while todo:
        p = todo.pop(0)
        out.append(p)
        c = word(p["p_child"])
        while c:
            child = deref(c, "kern::proc::Proc")
            todo.append(child)
            c = word(child["p_sibling"])
    return out


def proc_name(p):
    if word(p["p_parent"]) == 0 and num(p["p_pid"]) == 0:
        return "sched"
    comm = p["p_comm"]["data"]["value"]
    n = int(comm["len"])
    if n:
        return bytes(int(comm["buf"][i]) for i in range(n)).decode("utf-8", "replace")
    start = num(p["p_start"])
    if start:
        return "<%s>" % symbol(start).split("::")[-1]
    return "-"


def ps_rows():
    """(S, PID, PPID, NLWP, NZOMB, PROC, NAME) of every process, by pid."""
    rows = []
    for p in procs():
        st = p["p_lock"]["data"]["value"]
        stat = str(st["p_stat"]).split("::")[-1]
        parent = word(p["p_parent"])
        ppid = str(num(deref(parent, "kern::proc::Proc")["p_pid"])) if parent else "-"
        d = st["p_lwpdir"]
        rows.append(({"Active": "R", "Exiting": "E", "Zombie": "Z"}.get(stat, "?"),
                     num(p["p_pid"]), ppid, int(d["ld_lwpcnt"]), int(d["ld_zombcnt"]),
                     "%016x" % addr_of(p), proc_name(p)))
    return sorted(rows, key=lambda r: r[1])


class LwpPs(gdb.Command):
    """lwp-ps: the processes, as kmdb's ::ps lists them (without the CPU times)."""

    def __init__(self):
        super().__init__("lwp-ps", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        fmt = "%-1s %6s %6s %5s %5s %-16s %s"
        print(fmt % ("S", "PID", "PPID", "NLWP", "NZOMB", "PROC", "NAME"))
        for r in ps_rows():
            print(fmt % r)


# ---- threads ------------------------------------------------------------------------

def allthreads():
    t = word(gdb.parse_and_eval("kern::thread::ALLTHREADS"))
    while t:
        th = deref(t, "kern::thread::KThread")
        yield th
        t = word(th["t_next_all"])


def cpus():
    """(cpu id, running thread, idle thread) of each CPU that has started."""
    arr = gdb.parse_and_eval("kern::cpu::CPUS")
    lo, hi = arr.type.range()
    out = []
    for i in range(lo, hi + 1):
        c = arr[i]
        idle = word(c["cpu_idle"])
        if idle:
            out.append((int(c["cpu_id"]), word(c["cpu_thread"]), idle))
    return out


def state_name(t, cpu_list):
    a = addr_of(t)
    idle = any(a == i for _, _, i in cpu_list)
    running = any(a == r for _, r, _ in cpu_list)
    if idle and not running:
        return "idle"
    return STATES[num(t["t_state"])]


def thread_rows():
    """(THREAD, TID, PID, LWP, STATE, CLS, PRI, CPU, WCHAN, SOBJ, NAME) of every
    thread in use, oldest first."""
    cpu_list = cpus()
    idles = [i for _, _, i in cpu_list]
    rows = []
    for t in allthreads():
        if num(t["t_state"]) == 0 and addr_of(t) not in idles:
            continue  # cached
        lwp, proc = word(t["t_lwp"]), word(t["t_procp"])
        pid = str(num(deref(proc, "kern::proc::Proc")["p_pid"])) if proc else "-"
        lwpid = str(num(deref(lwp, "kern::lwp::handle::Lwp")["lwp_id"])) if lwp else "-"
        base, epri = num(t["t_pri"]), num(t["t_epri"])
        pri = "%d*" % epri if epri > base else "%d" % base
        ts, sleep = t["t_ts"], t["t_sleep"]
        lock, chan = num(ts["t_ts_sobj"]), num(sleep["t_wchan"])
        if lock:
            wchan, sobj = "%016x" % lock, WAITKINDS[num(ts["t_ts_kind"])]
        elif chan:
            wchan, sobj = "%016x" % chan, SOBJS[num(sleep["t_sobj"])]
        else:
            wchan, sobj = "-", "-"
        # An LWP's thread is named by its process, as kmdb and mdb name it.
        name = proc_name(deref(proc, "kern::proc::Proc")) if proc else thread_name(t)
        rows.append(("%016x" % addr_of(t), num(t["t_id"]), pid, lwpid, state_name(t, cpu_list),
                     CLASSES[num(t["t_cid"])], pri, num(t["t_cpu"]), wchan, sobj, name))
    return sorted(rows, key=lambda r: r[1])


class LwpThreads(gdb.Command):
    """lwp-threads: every kernel thread, as kmdb's ::threadlist lists it (without the
    lock owners and the lwp structures' residence)."""

    def __init__(self):
        super().__init__("lwp-threads", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        fmt = "%-16s %5s %5s %4s %-7s %-3s %4s %3s %-16s %-8s %s"
        print(fmt % ("THREAD", "TID", "PID", "LWP", "STATE", "CLS", "PRI", "CPU", "WCHAN",
                     "SOBJ", "NAME"))
        for r in thread_rows():
            print(fmt % r)


# ---- stacks -------------------------------------------------------------------------

def symbol(pc):
    """The function pc is in, as `name+0xoff`: the outermost function of its debug
    information (a pc in inlined code names the function it was inlined into, as
    the kernel's symbol table does), else the symbol the ELF table gives."""
    block, outer = gdb.block_for_pc(pc), None
    while block is not None and not block.is_static and not block.is_global:
        if block.function is not None:
            outer = block
        block = block.superblock
    if outer is not None:
        return "%s+0x%x" % (outer.function.print_name, pc - outer.start)
    found = gdb.execute("info symbol 0x%x" % pc, to_string=True)
    if " in section " in found:
        name, _, off = found.split(" in section ")[0].partition(" + ")
        return "%s+0x%x" % (name, int(off or "0"))
    return "0x%x" % pc


def stack_pcs(t):
    """The pcs of a switched-out thread's frames, innermost first (as kmdb walks them:
    the pc its switch comes back to and the %i7 it kept, then each frame's saved %i7,
    following saved %i6)."""
    regs = t["t_ctx"]["regs"]["value"]
    pc, sp = int(regs["i7"]), int(regs["fp"])
    pcs = [int(regs["pc"])] if int(regs["pc"]) else []
    if pc:
        pcs.append(pc)
    inferior = gdb.selected_inferior()
    for _ in range(64):
        if sp == 0 or (sp + STACK_BIAS) % 8:
            break
        area = inferior.read_memory(sp + STACK_BIAS + 14 * 8, 16).tobytes()
        caller_sp, ret = int.from_bytes(area[:8], "big"), int.from_bytes(area[8:], "big")
        if ret == 0:
            break
        pcs.append(ret)
        if caller_sp <= sp:
            break
        sp = caller_sp
    return pcs


class LwpStack(gdb.Command):
    """lwp-stack THREAD: the kernel stack of thread THREAD (its address, as lwp-threads
    prints it), walked through the register-window save areas on its stack."""

    def __init__(self):
        super().__init__("lwp-stack", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        want = int(arg.strip(), 16)
        t = next((t for t in allthreads() if addr_of(t) == want), None)
        if t is None:
            raise gdb.GdbError("no thread at %016x (lwp-threads lists them)" % want)
        if any(r == want for _, r, _ in cpus()):
            raise gdb.GdbError("thread %016x runs on a CPU: its windows are in the CPU (bt)" % want)
        if num(t["t_nswitch"]) == 0:
            raise gdb.GdbError("thread %016x has not run yet" % want)
        print("stack of thread %016x (tid %d):" % (want, num(t["t_id"])))
        for pc in stack_pcs(t):
            print("  %016x %s" % (pc, symbol(pc)))


gdb.execute("set language rust")
LwpPs()
LwpThreads()
LwpStack()
