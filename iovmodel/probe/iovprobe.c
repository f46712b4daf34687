/* iovprobe: timing loops of iovmodel's KVM probe.
 *
 * Builds a tiny 16-bit real-mode VM straight from /dev/kvm ioctls and times, from the VMM
 * side, the hops a virtual device's I/O crosses: exits to userspace (PIO, MMIO), in-kernel
 * exits, ioeventfd kicks and the wake-up of a backend thread, irqfd interrupt injection,
 * and many vCPU threads whose exit handler shares one mutex.  Compiled on first use by
 * iovmodel.probe._helper with the machine's C compiler; one experiment per process.
 *
 * Usage: iovprobe LIMIT_S real|long EXPERIMENT ARGS...
 * Output (stdout): text lines "key value"; each sample block is a line "samples NAME N"
 * followed by N little-endian int64 nanosecond values, then the line "end".
 * Exit status: 0 ok, 2 error (message on stderr), 3 watchdog fired (LIMIT_S exceeded).
 *
 * Every guest run is bounded: SIGALRM after LIMIT_S seconds sets immediate_exit on every
 * vCPU and signals the vCPU threads, whose KVM_RUN then returns EINTR.  The Python side
 * also kills the process if it outlives its limit.  All resources are file descriptors and
 * mappings of this process, so the kernel reclaims them when it exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <linux/veth.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE 0x80000u   /* guest RAM 0..512 KiB */
#define CODE_GPA 0x1000u
#define MMIO_GPA 0x90000u   /* MMIO window, outside RAM */
#define PT_GPA 0x2000u      /* long mode: PML4, PDPT, PD at 0x2000, 0x3000, 0x4000 */
#define PORT_EXIT 0x10      /* handled by this VMM (exit to userspace) */
#define PORT_IRQ 0x12       /* written by the guest's interrupt handler */
#define PORT_KICK 0x30      /* ioeventfd */
#define PORT_PIC 0x21       /* in-kernel PIC mask register (with KVM_CREATE_IRQCHIP) */
#define IRQ_LINE 5
#define IRQ_VECTOR 0x25
#define MAX_VCPUS 64

static int kvm_fd = -1, vm_fd = -1;
static uint8_t *mem;
static long run_size;

struct vcpu {
    int fd;
    struct kvm_run *run;
    pthread_t thread;
    int started;
};
static struct vcpu vcpus[MAX_VCPUS];
static int nvcpus;
static int guest_long;  /* 0: 16-bit real mode, 1: 64-bit long mode at CPL 3 */
static volatile sig_atomic_t timed_out;
static atomic_int stop;

static inline int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "iovprobe: %s: %s\n", what, errno ? strerror(errno) : "failed");
    exit(2);
}

static void fail(const char *msg)
{
    fprintf(stderr, "iovprobe: %s\n", msg);
    exit(2);
}

static void on_usr1(int sig) { (void)sig; }

static void on_alarm(int sig)
{
    (void)sig;
    timed_out = 1;
    atomic_store(&stop, 1);
    for (int i = 0; i < nvcpus; i++) {
        if (vcpus[i].run)
            vcpus[i].run->immediate_exit = 1;
        if (vcpus[i].started)
            pthread_kill(vcpus[i].thread, SIGUSR1);
    }
}

static void watchdog(double limit_s)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;  /* no SA_RESTART: KVM_RUN must return EINTR */
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it;
    memset(&it, 0, sizeof it);
    it.it_value.tv_sec = (time_t)limit_s;
    it.it_value.tv_usec = (suseconds_t)((limit_s - (double)(time_t)limit_s) * 1e6);
    if (it.it_value.tv_sec == 0 && it.it_value.tv_usec == 0)
        it.it_value.tv_usec = 1000;
    setitimer(ITIMER_REAL, &it, NULL);
}

static void check_timeout(void)
{
    if (timed_out) {
        fprintf(stderr, "iovprobe: watchdog: time limit exceeded, guest stopped\n");
        fflush(stdout);
        exit(3);
    }
}

/* ---------------------------------------------------------------- VM setup */

static void vm_create(int irqchip)
{
    kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm_fd < 0)
        die("open /dev/kvm");
    if (ioctl(kvm_fd, KVM_GET_API_VERSION, 0) != 12)
        fail("KVM API version is not 12");
    vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
    if (vm_fd < 0)
        die("KVM_CREATE_VM");
    ioctl(vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000ul);  /* needed by VMX real mode; harmless elsewhere */
    if (irqchip && ioctl(vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
        die("KVM_CREATE_IRQCHIP");
    mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
               -1, 0);
    if (mem == MAP_FAILED)
        die("mmap guest memory");
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE, .userspace_addr = (uint64_t)mem};
    if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        die("KVM_SET_USER_MEMORY_REGION");
    run_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size <= 0)
        die("KVM_GET_VCPU_MMAP_SIZE");
}

static void load_code(const uint8_t *code, size_t len)
{
    memcpy(mem + CODE_GPA, code, len);
}

static void vcpu_create(int id)
{
    struct vcpu *v = &vcpus[id];
    v->fd = ioctl(vm_fd, KVM_CREATE_VCPU, id);
    if (v->fd < 0)
        die("KVM_CREATE_VCPU");
    v->run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (v->run == MAP_FAILED)
        die("mmap kvm_run");
    struct kvm_sregs sregs;
    if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
        die("KVM_GET_SREGS");
    struct kvm_regs regs;
    memset(&regs, 0, sizeof regs);
    regs.rip = CODE_GPA;
    regs.rflags = 0x2;
    regs.rsp = 0x7000 - 0x100 * (uint64_t)id;  /* one small stack per vCPU */
    if (guest_long) {
        /* identity map of the first 2 MiB (one large page, user-accessible) */
        uint64_t *pml4 = (uint64_t *)(mem + PT_GPA);
        uint64_t *pdpt = (uint64_t *)(mem + PT_GPA + 0x1000);
        uint64_t *pd = (uint64_t *)(mem + PT_GPA + 0x2000);
        pml4[0] = (PT_GPA + 0x1000) | 0x7;  /* present, writable, user */
        pdpt[0] = (PT_GPA + 0x2000) | 0x7;
        pd[0] = 0x87;                       /* 2 MiB page at 0 */
        sregs.cr3 = PT_GPA;
        sregs.cr4 = 1u << 5;                /* PAE */
        sregs.cr0 = 0x80050033u;            /* PG WP NE ET MP PE */
        sregs.efer = 0x500;                 /* LME LMA */
        struct kvm_segment code = {.base = 0, .limit = 0xffffffff, .selector = (3 << 3) | 3,
                                   .type = 11, .present = 1, .dpl = 3, .db = 0, .s = 1,
                                   .l = 1, .g = 1};
        struct kvm_segment data = code;
        data.selector = (4 << 3) | 3;
        data.type = 3;
        data.l = 0;
        data.db = 1;
        sregs.cs = code;
        sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
        regs.rflags |= 0x3000;  /* IOPL 3: ring-3 port I/O traps to the hypervisor, not #GP */
        regs.rbx = MMIO_GPA;
    } else {
        sregs.cs.base = 0;
        sregs.cs.selector = 0;
        sregs.ss.base = 0;
        sregs.ss.selector = 0;
        sregs.es.base = 0;
        sregs.es.selector = 0;
        sregs.ds.base = MMIO_GPA;  /* ds:bx = MMIO window */
        sregs.ds.selector = MMIO_GPA >> 4;
        regs.rbx = 0;
    }
    if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
        die("KVM_SET_SREGS");
    if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
        die("KVM_SET_REGS");
    if (id + 1 > nvcpus)
        nvcpus = id + 1;
}

/* One KVM_RUN; returns the exit reason, or -1 when stopped by the watchdog. */
static int run_once(struct vcpu *v)
{
    for (;;) {
        if (ioctl(v->fd, KVM_RUN, 0) == 0)
            return (int)v->run->exit_reason;
        if (errno == EINTR || errno == EAGAIN) {
            if (atomic_load(&stop))
                return -1;
            continue;
        }
        die("KVM_RUN");
    }
}

static void expect_io(struct vcpu *v, int reason, int port)
{
    if (reason == -1)
        return;
    if (reason != KVM_EXIT_IO || v->run->io.port != port) {
        fprintf(stderr, "iovprobe: unexpected exit reason %d (port 0x%x), expected PIO to 0x%x\n",
                reason, reason == KVM_EXIT_IO ? v->run->io.port : 0, port);
        exit(2);
    }
}

/* ---------------------------------------------------------------- output */

static void emit_samples(const char *name, const int64_t *s, long n)
{
    printf("samples %s %ld\n", name, n);
    fflush(stdout);
    if (n > 0 && fwrite(s, sizeof *s, (size_t)n, stdout) != (size_t)n)
        die("write samples");
    printf("\n");
}

static int64_t *alloc_samples(long n)
{
    int64_t *s = calloc((size_t)(n > 0 ? n : 1), sizeof *s);
    if (!s)
        die("calloc");
    return s;
}

/* Sleep until CLOCK_MONOTONIC time t (ns), or until the watchdog stops the run. */
static void sleep_until(int64_t t)
{
    struct timespec ts = {.tv_sec = t / 1000000000LL, .tv_nsec = t % 1000000000LL};
    while (!atomic_load(&stop) &&
           clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

static void spin_until(int64_t t)
{
    while (now_ns() < t) {
    }
}

/* ---------------------------------------------------------------- guest code */

/* Guest code is emitted for the mode in use: 16-bit real mode (cs=ds=0) or 64-bit long mode
 * at CPL 3 with IOPL 3 (flat segments, identity-mapped first 2 MiB).  Only encodings that
 * differ between the two are mode-aware. */
struct as {
    uint8_t *c;
    size_t i;
};
static void emit(struct as *a, uint8_t b) { a->c[a->i++] = b; }
static void emit_imm(struct as *a, uint32_t v)
{
    emit(a, (uint8_t)v);
    emit(a, (uint8_t)(v >> 8));
    if (guest_long) {
        emit(a, (uint8_t)(v >> 16));
        emit(a, (uint8_t)(v >> 24));
    }
}
static void mov_dx(struct as *a, uint32_t v) { emit(a, 0xBA); emit_imm(a, v); }  /* mov (e)dx, v */
static void mov_cx(struct as *a, uint32_t v) { emit(a, 0xB9); emit_imm(a, v); }  /* mov (e)cx, v */
static void jmp_to(struct as *a, size_t target)                          /* jmp short target */
{
    emit(a, 0xEB);
    emit(a, (uint8_t)((int)target - (int)(a->i + 1)));
}
static void loop_to(struct as *a, size_t target)                         /* loop short target */
{
    emit(a, 0xE2);
    emit(a, (uint8_t)((int)target - (int)(a->i + 1)));
}
/* mov [bx|rbx], al and mov al, [bx|rbx]; (r)bx points at the MMIO window. */
static void mmio_store(struct as *a) { emit(a, 0x88); emit(a, guest_long ? 0x03 : 0x07); }
static void mmio_load(struct as *a) { emit(a, 0x8A); emit(a, guest_long ? 0x03 : 0x07); }

/* start: out dx,al to PORT_EXIT forever. */
static size_t code_pio(uint8_t *c)
{
    struct as a = {c, 0};
    mov_dx(&a, PORT_EXIT);
    size_t l = a.i;
    emit(&a, 0xEE);
    jmp_to(&a, l);
    return a.i;
}

/* MMIO write (store=1) or read at the MMIO window forever. */
static size_t code_mmio(uint8_t *c, int store)
{
    struct as a = {c, 0};
    if (store)
        mmio_store(&a);
    else
        mmio_load(&a);
    jmp_to(&a, 0);
    return a.i;
}

/* start: cx=K; dx=PORT; l: BODY; loop l; out PORT_EXIT; jmp start. */
static size_t code_loop(uint8_t *c, uint8_t body, int k, int port)
{
    struct as a = {c, 0};
    mov_cx(&a, (uint32_t)k);
    mov_dx(&a, (uint32_t)port);
    size_t l = a.i;
    emit(&a, body);  /* nop 0x90 | out dx,al 0xEE | in al,dx 0xEC */
    loop_to(&a, l);
    mov_dx(&a, PORT_EXIT);
    emit(&a, 0xEE);
    jmp_to(&a, 0);
    return a.i;
}

/* start: kick (out PORT_KICK); exit (out PORT_EXIT); jmp start. */
static size_t code_kick(uint8_t *c)
{
    struct as a = {c, 0};
    mov_dx(&a, PORT_KICK);
    emit(&a, 0xEE);
    mov_dx(&a, PORT_EXIT);
    emit(&a, 0xEE);
    jmp_to(&a, 0);
    return a.i;
}

/* Program the PIC (vector base 0x20, only IRQ_LINE unmasked), install the handler,
 * then spin (halt=0) or hlt (halt=1) with interrupts enabled.  The handler reports to
 * PORT_IRQ, sends EOI and returns. */
static size_t code_irq(uint8_t *c, int halt)
{
    size_t i = 0;
    const uint8_t init[] = {
        0xB0, 0x11, 0xE6, 0x20, /* ICW1: edge, cascade, ICW4 */
        0xB0, 0x20, 0xE6, 0x21, /* ICW2: vector base 0x20 */
        0xB0, 0x04, 0xE6, 0x21, /* ICW3 */
        0xB0, 0x01, 0xE6, 0x21, /* ICW4: 8086 mode */
        0xB0, (uint8_t)(0xFF & ~(1 << IRQ_LINE)), 0xE6, 0x21, /* OCW1: mask all but IRQ_LINE */
        0xBA, PORT_EXIT, 0x00, 0xEE, /* tell the VMM the guest is ready */
        0xFB,                        /* sti */
    };
    memcpy(c, init, sizeof init);
    i = sizeof init;
    size_t loop = i;
    if (halt)
        c[i++] = 0xF4;  /* hlt */
    c[i++] = 0xEB;
    c[i] = (uint8_t)(loop - (i + 1));
    i++;
    /* handler at CODE_GPA + 0x100 */
    const uint8_t handler[] = {
        0x50,                   /* push ax */
        0x52,                   /* push dx */
        0xBA, PORT_IRQ, 0x00,   /* mov dx, PORT_IRQ */
        0xEE,                   /* out dx, al */
        0xB0, 0x20, 0xE6, 0x20, /* EOI */
        0x5A, 0x58,             /* pop dx; pop ax */
        0xCF,                   /* iret */
    };
    memcpy(c + 0x100, handler, sizeof handler);
    uint16_t *ivt = (uint16_t *)mem;
    ivt[IRQ_VECTOR * 2] = CODE_GPA + 0x100;
    ivt[IRQ_VECTOR * 2 + 1] = 0;
    return 0x100 + sizeof handler;
}

/* ---------------------------------------------------------------- experiments */

/* Harness overhead: two consecutive clock reads with nothing between. */
static void exp_empty(long n)
{
    int64_t *s = alloc_samples(n);
    for (long i = 0; i < n; i++) {
        int64_t t0 = now_ns();
        int64_t t1 = now_ns();
        s[i] = t1 - t0;
    }
    emit_samples("empty", s, n);
}

static void exp_syscall(long n)
{
    int64_t *s = alloc_samples(n);
    for (long i = 0; i < n; i++) {
        int64_t t0 = now_ns();
        syscall(SYS_getppid);
        s[i] = now_ns() - t0;
    }
    emit_samples("syscall", s, n);
}

static void exp_lock(long n)
{
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    int64_t *s = alloc_samples(n);
    for (long i = 0; i < n; i++) {
        int64_t t0 = now_ns();
        pthread_mutex_lock(&m);
        pthread_mutex_unlock(&m);
        s[i] = now_ns() - t0;
    }
    emit_samples("lock", s, n);
}

/* Page cache: 4 KiB pread vs pwrite at random page offsets of a file whose pages are all
 * cached (written, fsynced, read back), as a VMM's Sync block engine does them on a
 * file-backed drive opened without O_DIRECT.  The writes go to pages made clean by the
 * fsync, so most of them mark a clean page dirty, as a drive's steady state does while the
 * kernel's flusher keeps writing dirty pages back.  PATH must not exist (O_EXCL); it is
 * unlinked at the end. */
static void exp_pagecache(const char *path, long pages, long n)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        die("open page-cache file");
    char *buf = aligned_alloc(4096, 4096);
    if (!buf)
        die("aligned_alloc");
    memset(buf, 0xA5, 4096);
    for (long i = 0; i < pages; i++)
        if (pwrite(fd, buf, 4096, (off_t)i * 4096) != 4096)
            die("pwrite (fill)");
    if (fsync(fd))
        die("fsync");
    for (long i = 0; i < pages; i++)
        if (pread(fd, buf, 4096, (off_t)i * 4096) != 4096)
            die("pread (warm)");
    int64_t *s = alloc_samples(n);
    uint64_t x = 88172645463325252ull;  /* xorshift64: same offsets every run */
    for (int w = 0; w < 2; w++) {
        if (w && fsync(fd))
            die("fsync");
        for (long i = 0; i < n; i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            off_t off = (off_t)(x % (uint64_t)pages) * 4096;
            int64_t t0 = now_ns();
            ssize_t r = w ? pwrite(fd, buf, 4096, off) : pread(fd, buf, 4096, off);
            s[i] = now_ns() - t0;
            if (r != 4096)
                die(w ? "pwrite" : "pread");
        }
        emit_samples(w ? "pagecache_write" : "pagecache_read", s, n);
    }
    close(fd);
    unlink(path);
    free(buf);
}

/* Tap writes: the host kernel's work on a frame a VMM writes into its tap (tun_get_user ->
 * netif_receive_skb), timed per write() of a 60-byte frame: into /dev/null (the system call
 * and copy alone), into a tap the host stack drops at its IP layer (a frame for another
 * MAC: eth_type_trans marks it PACKET_OTHERHOST, ip_rcv frees it), and into a tap on a Linux
 * bridge that forwards it to a second tap (the host stack between two VMs' taps; nobody
 * reads the second tap, so its queue fills and tun_net_xmit frees the frame after the
 * forwarding).  Needs /dev/net/tun and CAP_NET_ADMIN; the taps go with this process, the
 * bridge is deleted before it exits (also when a write fails). */
static int tap_sock = -1;
static char tap_bridge[IFNAMSIZ];

static void tap_cleanup(void)
{
    if (tap_sock < 0 || !tap_bridge[0])
        return;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, tap_bridge, IFNAMSIZ - 1);
    if (!ioctl(tap_sock, SIOCGIFFLAGS, &ifr)) {
        ifr.ifr_flags &= ~IFF_UP;
        ioctl(tap_sock, SIOCSIFFLAGS, &ifr);
    }
    ioctl(tap_sock, SIOCBRDELBR, tap_bridge);
    tap_bridge[0] = 0;
}

static void tap_up(const char *name)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(tap_sock, SIOCGIFFLAGS, &ifr) < 0)
        die("SIOCGIFFLAGS");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(tap_sock, SIOCSIFFLAGS, &ifr) < 0)
        die("SIOCSIFFLAGS (bring an interface up: needs CAP_NET_ADMIN)");
}

static int tap_open(char *name)
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        die("open /dev/net/tun");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    strncpy(ifr.ifr_name, "iovp%d", IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0)
        die("TUNSETIFF (create a tap: needs CAP_NET_ADMIN)");
    memcpy(name, ifr.ifr_name, IFNAMSIZ);
    tap_up(name);
    return fd;
}

static void tap_time(const char *name, int fd, const uint8_t *frame, size_t len, long n,
                     long warm)
{
    int64_t *s = alloc_samples(n);
    for (long i = -warm; i < n && !timed_out; i++) {
        int64_t t0 = now_ns();
        ssize_t r = write(fd, frame, len);
        int64_t t1 = now_ns();
        if (r != (ssize_t)len) {
            if (timed_out)
                break;
            die("write of a frame");
        }
        if (i >= 0)
            s[i] = t1 - t0;
    }
    check_timeout();
    emit_samples(name, s, n);
}

/* A number from a file (sysfs, a sysctl; -1 if it cannot be read). */
static long file_long(const char *path)
{
    FILE *fp = fopen(path, "r");
    long v = -1;
    if (!fp || fscanf(fp, "%ld", &v) != 1)
        v = -1;
    if (fp)
        fclose(fp);
    return v;
}

/* A number from an interface's sysfs directory (-1 if it cannot be read). */
static long sysfs_long(const char *ifname, const char *file)
{
    char path[128];
    snprintf(path, sizeof path, "/sys/class/net/%s/%s", ifname, file);
    return file_long(path);
}

/* Frames that reached a tap's transmit side (sent to its reader or dropped when its queue
 * was full): the proof that the bridge forwarded them. */
static long tap_arrived(const char *name)
{
    long sent = sysfs_long(name, "statistics/tx_packets");
    long dropped = sysfs_long(name, "statistics/tx_dropped");
    return sent < 0 || dropped < 0 ? -1 : sent + dropped;
}

/* The IPv4 header checksum (RFC 791) of an Ethernet frame's IPv4 header (bytes 14-33),
 * written into it (its checksum field zero before). */
static void ipv4_checksum(uint8_t *f)
{
    uint32_t sum = 0;
    for (int i = 14; i < 34; i += 2)
        sum += (uint32_t)(f[i] << 8 | f[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    f[24] = (uint8_t)(~sum >> 8);
    f[25] = (uint8_t)~sum;
}

/* The frame of the bridge experiments, 60 bytes (pktgen's default, ETH_ZLEN): Ethernet to a
 * locally administered unicast MAC no interface has (every bridge floods it), IPv4 + UDP
 * from 192.0.2.1 to 192.0.2.2 (TEST-NET-1). */
static void flood_frame(uint8_t f[60])
{
    memset(f, 0, 60);
    static const uint8_t hdr[] = {0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x08, 0x00,
                                  0x45, 0, 0, 46, 0, 0, 0, 0, 64, 17, 0, 0,
                                  192, 0, 2, 1, 192, 0, 2, 2, 0x30, 0x39, 0x30, 0x3a, 0, 26};
    memcpy(f, hdr, sizeof hdr);
    ipv4_checksum(f);  /* br_netfilter drops a frame with a bad one */
}

static void exp_tap(long n, long warm)
{
    tap_sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (tap_sock < 0)
        die("socket");
    char alone[IFNAMSIZ], in[IFNAMSIZ], out[IFNAMSIZ];
    int fd_alone = tap_open(alone), fd_in = tap_open(in), fd_out = tap_open(out);
    snprintf(tap_bridge, IFNAMSIZ, "iovpbr%d", (int)(getpid() % 100000000));
    if (ioctl(tap_sock, SIOCBRADDBR, tap_bridge) < 0) {
        tap_bridge[0] = 0;
        die("SIOCBRADDBR (create a bridge: needs the bridge module and CAP_NET_ADMIN)");
    }
    atexit(tap_cleanup);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, tap_bridge, IFNAMSIZ - 1);
    ifr.ifr_ifindex = (int)if_nametoindex(in);
    if (ioctl(tap_sock, SIOCBRADDIF, &ifr) < 0)
        die("SIOCBRADDIF");
    ifr.ifr_ifindex = (int)if_nametoindex(out);
    if (ioctl(tap_sock, SIOCBRADDIF, &ifr) < 0)
        die("SIOCBRADDIF");
    tap_up(tap_bridge);
    uint8_t f[60];
    flood_frame(f);
    int fd_null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd_null < 0)
        die("open /dev/null");
    tap_time("tap_null", fd_null, f, sizeof f, n, warm);
    tap_time("tap_drop", fd_alone, f, sizeof f, n, warm);
    tap_time("tap_bridge", fd_in, f, sizeof f, n, warm);
    /* what the second tap may still hold is its queue (tx_queue_len) */
    printf("tap_written %ld\ntap_forwarded %ld\ntap_queue_len %ld\n", n + warm,
           tap_arrived(out), sysfs_long(out, "tx_queue_len"));
    printf("tap_links %s,%s,%s,%s\n", alone, in, out, tap_bridge);
    tap_cleanup();
    close(fd_null);
    close(fd_alone);
    close(fd_in);
    close(fd_out);
    close(tap_sock);
}

/* Routed and masqueraded tap writes, in a network namespace of this process's own
 * (unshare(CLONE_NEWNET): nothing on the host changes, and it goes with the process).  A
 * 60-byte IPv4/UDP frame written into tap A (10.211.0.1/24) for 10.212.0.2 is routed to
 * tap B (10.212.0.1/24, a static neighbour entry for .2): tun_get_user, ip_rcv, ip_forward,
 * neighbour output, tun_net_xmit (nobody reads B: its queue fills and it frees the frame).
 * Then, with NFT (a path to nft, "-" for none) an nftables masquerade rule on B's way out
 * (what a pod network's NAT binding sets up for a VM, KubeVirt's or Virtink's masquerade):
 * the same writes now also pass conntrack and source NAT. */
static void set_addr(const char *ifname, const char *addr, const char *mask)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
    struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
    sin->sin_family = AF_INET;
    if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
        fail("bad address");
    if (ioctl(tap_sock, SIOCSIFADDR, &ifr) < 0)
        die("SIOCSIFADDR");
    if (inet_pton(AF_INET, mask, &sin->sin_addr) != 1)
        fail("bad netmask");
    if (ioctl(tap_sock, SIOCSIFNETMASK, &ifr) < 0)
        die("SIOCSIFNETMASK");
}

/* tx packets + tx drops of an interface of this namespace, from /proc/net/dev (sysfs shows
 * the namespace that mounted it, not this one); -1 if not found. */
static long netdev_tx(const char *ifname)
{
    FILE *fp = fopen("/proc/net/dev", "r");
    if (!fp)
        return -1;
    char line[512];
    long v = -1;
    while (fgets(line, sizeof line, fp)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = 0;
        char *name = line;
        while (*name == ' ')
            name++;
        if (strcmp(name, ifname))
            continue;
        long f[16];
        if (sscanf(colon + 1, "%ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld", &f[0], &f[1],
                   &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &f[9], &f[10],
                   &f[11]) == 12)
            v = f[9] + f[11];  /* transmit packets, transmit drop */
        break;
    }
    fclose(fp);
    return v;
}

/* Time N + WARM writes of frame F into FD_IN as samples "tap_KEY", and print KEY_written,
 * KEY_forwarded (what tap OUT sent or dropped meanwhile: the frames that reached it) and
 * QKEY_queue_len (OUT's queue, where the rest wait); returns OUT's counter after (or -1). */
static long time_forwarded(const char *key, const char *qkey, int fd_in, const char *out,
                           const uint8_t *f, size_t len, long n, long warm)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, out, IFNAMSIZ - 1);
    long qlen = ioctl(tap_sock, SIOCGIFTXQLEN, &ifr) < 0 ? -1 : ifr.ifr_qlen;
    char name[32];
    snprintf(name, sizeof name, "tap_%s", key);
    long before = netdev_tx(out);
    tap_time(name, fd_in, f, len, n, warm);
    long after = netdev_tx(out);
    printf("%s_written %ld\n%s_forwarded %ld\n%s_queue_len %ld\n", key, n + warm, key,
           before < 0 || after < 0 ? -1 : after - before, qkey, qlen);
    return after;
}

static void run_nft(const char *nft, const char *rules)
{
    int pfd[2];
    if (pipe(pfd) < 0)
        die("pipe");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        dup2(pfd[0], 0);
        close(pfd[0]);
        close(pfd[1]);
        execl(nft, "nft", "-f", "-", (char *)NULL);
        _exit(127);
    }
    close(pfd[0]);
    size_t len = strlen(rules);
    if (write(pfd[1], rules, len) != (ssize_t)len)
        die("write to nft");
    close(pfd[1]);
    int st;
    if (waitpid(pid, &st, 0) < 0)
        die("waitpid");
    if (!WIFEXITED(st) || WEXITSTATUS(st))
        fail("nft could not load the masquerade rule (nf_tables with NAT needed)");
}

static void exp_nat(long n, long warm, const char *nft)
{
    if (unshare(CLONE_NEWNET) < 0)
        die("unshare(CLONE_NEWNET) (a network namespace of its own: needs CAP_SYS_ADMIN)");
    tap_sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (tap_sock < 0)
        die("socket");
    char in[IFNAMSIZ], out[IFNAMSIZ];
    int fd_in = tap_open(in), fd_out = tap_open(out);
    set_addr(in, "10.211.0.1", "255.255.255.0");
    set_addr(out, "10.212.0.1", "255.255.255.0");
    int fd = open("/proc/sys/net/ipv4/conf/all/forwarding", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "1\n", 2) != 2)
        die("enable IPv4 forwarding in the namespace");
    close(fd);
    struct arpreq ar;
    memset(&ar, 0, sizeof ar);
    struct sockaddr_in *pa = (struct sockaddr_in *)&ar.arp_pa;
    pa->sin_family = AF_INET;
    inet_pton(AF_INET, "10.212.0.2", &pa->sin_addr);
    ar.arp_ha.sa_family = ARPHRD_ETHER;
    static const uint8_t peer[6] = {0x02, 0, 0, 0, 0, 0x03};
    memcpy(ar.arp_ha.sa_data, peer, 6);
    ar.arp_flags = ATF_COM | ATF_PERM;
    strncpy(ar.arp_dev, out, sizeof ar.arp_dev - 1);
    if (ioctl(tap_sock, SIOCSARP, &ar) < 0)
        die("SIOCSARP (a static neighbour)");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, in, IFNAMSIZ - 1);
    if (ioctl(tap_sock, SIOCGIFHWADDR, &ifr) < 0)
        die("SIOCGIFHWADDR");
    uint8_t f[60];
    memset(f, 0, sizeof f);
    memcpy(f, ifr.ifr_hwaddr.sa_data, 6);  /* to tap A's own MAC: the host routes it */
    static const uint8_t hdr[] = {0x02, 0, 0, 0, 0, 0x02, 0x08, 0x00,
                                  0x45, 0, 0, 46, 0, 0, 0x40, 0, 64, 17, 0, 0,
                                  10, 211, 0, 2, 10, 212, 0, 2, 0x30, 0x39, 0x30, 0x3a, 0, 26};
    memcpy(f + 6, hdr, sizeof hdr);
    ipv4_checksum(f);  /* ip_rcv drops a frame with a bad one */
    long routed = time_forwarded("route", "nat", fd_in, out, f, sizeof f, n, warm);
    if (strcmp(nft, "-")) {
        char rules[512];
        snprintf(rules, sizeof rules, "table ip iovprobe {\n chain post {\n  type nat hook "
                 "postrouting priority 100;\n  oifname \"%s\" masquerade\n }\n}\n", out);
        run_nft(nft, rules);
        tap_time("tap_nat", fd_in, f, sizeof f, n, warm);
        long natted = netdev_tx(out);
        printf("nat_written %ld\nnat_forwarded %ld\n", n + warm,
               routed < 0 || natted < 0 ? -1 : natted - routed);
    }
    printf("nat_links %s,%s\n", in, out);
    close(fd_in);
    close(fd_out);
    close(tap_sock);
}

/* A pod network's bridge binding between two VMs' pods on one node, in a network namespace
 * of this process's own: tap A and veth vA on bridge brA (pod A); vA's peer vAh and vBh on
 * bridge brN (the node's switch: a Linux bridge standing in for its virtual switch, e.g.
 * kernel OVS); vBh's peer vB and tap B on bridge brB (pod B).  The tap experiment's frame
 * written into tap A is flooded by every bridge: tun_get_user, brA, veth_xmit -> netif_rx,
 * brN, veth again, brB, tun_net_xmit (nobody reads B: its queue fills and it frees the
 * frame), all in the write()'s softirq.  The veth pairs come from rtnetlink (RTM_NEWLINK,
 * kind "veth"); the namespace takes the caller's bridge-nf-call-* settings (a new one starts
 * at 1), so the bridges pass netfilter as the tap experiment's does.  Everything is deleted
 * before the process exits (also when a step fails); the namespace goes with it. */
#define POD_BRIDGES 3
#define POD_VETHS 2
static const char *const pod_bridges[POD_BRIDGES] = {"iovpbrA", "iovpbrN", "iovpbrB"};
/* each pair: the end on a pod bridge, the end on the node bridge */
static const char *const pod_veths[POD_VETHS][2] = {{"iovpvA", "iovpvAh"},
                                                    {"iovpvB", "iovpvBh"}};
static int pod_nl = -1;
static int pod_made_bridges, pod_made_veths;
static uint32_t pod_seq;

/* Append attribute TYPE (LEN bytes of DATA) to netlink message NH in a CAP-byte buffer;
 * returns it, so that a nest can be closed by nl_end. */
static struct rtattr *nl_attr(struct nlmsghdr *nh, size_t cap, int type, const void *data,
                              size_t len)
{
    size_t at = NLMSG_ALIGN(nh->nlmsg_len);
    if (at + RTA_SPACE(len) > cap)
        fail("netlink message too long");
    struct rtattr *rta = (struct rtattr *)((char *)nh + at);
    rta->rta_type = (unsigned short)type;
    rta->rta_len = (unsigned short)RTA_LENGTH(len);
    if (len)
        memcpy(RTA_DATA(rta), data, len);
    nh->nlmsg_len = (uint32_t)(at + RTA_SPACE(len));
    return rta;
}

static void nl_end(struct nlmsghdr *nh, struct rtattr *nest)
{
    nest->rta_len = (unsigned short)((char *)nh + nh->nlmsg_len - (char *)nest);
}

/* Send a request and wait for its acknowledgement: 0, or the kernel's negative errno. */
static int nl_talk(struct nlmsghdr *nh)
{
    nh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    nh->nlmsg_seq = ++pod_seq;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(pod_nl, nh, nh->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0)
        return -errno;
    union {
        struct nlmsghdr h;
        char b[8192];
    } reply;
    for (;;) {
        ssize_t r = recv(pod_nl, &reply, sizeof reply, 0);
        if (r < 0) {
            if (errno == EINTR && !timed_out)
                continue;
            return -errno;
        }
        int len = (int)r;
        for (struct nlmsghdr *h = &reply.h; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_seq == nh->nlmsg_seq && h->nlmsg_type == NLMSG_ERROR)
                return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
        }
    }
}

/* Start an rtnetlink link message of TYPE and FLAGS about interface NAME in a CAP-byte
 * buffer NH (zeroed here): the ifinfomsg, then IFLA_IFNAME. */
static void link_msg(struct nlmsghdr *nh, size_t cap, int type, int flags, const char *name)
{
    memset(nh, 0, cap);
    nh->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
    nh->nlmsg_type = (unsigned short)type;
    nh->nlmsg_flags = (unsigned short)flags;
    ((struct ifinfomsg *)NLMSG_DATA(nh))->ifi_family = AF_UNSPEC;
    nl_attr(nh, cap, IFLA_IFNAME, name, strlen(name) + 1);
}

/* RTM_NEWLINK NAME type veth peer name PEER (as `ip link add` sends it) */
static void veth_add(const char *name, const char *peer)
{
    union {
        struct nlmsghdr h;
        char b[512];
    } m;
    link_msg(&m.h, sizeof m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, name);
    struct ifinfomsg peer_ifi;
    memset(&peer_ifi, 0, sizeof peer_ifi);
    struct rtattr *info = nl_attr(&m.h, sizeof m, IFLA_LINKINFO, NULL, 0);
    nl_attr(&m.h, sizeof m, IFLA_INFO_KIND, "veth", 4);
    struct rtattr *data = nl_attr(&m.h, sizeof m, IFLA_INFO_DATA, NULL, 0);
    struct rtattr *p = nl_attr(&m.h, sizeof m, VETH_INFO_PEER, &peer_ifi, sizeof peer_ifi);
    nl_attr(&m.h, sizeof m, IFLA_IFNAME, peer, strlen(peer) + 1);
    nl_end(&m.h, p);
    nl_end(&m.h, data);
    nl_end(&m.h, info);
    int err = nl_talk(&m.h);
    if (err) {
        errno = -err;
        die("RTM_NEWLINK veth (a veth pair: needs the veth module and CAP_NET_ADMIN)");
    }
}

/* RTM_DELLINK NAME (its veth peer goes with it); errors ignored */
static void link_del(const char *name)
{
    union {
        struct nlmsghdr h;
        char b[128];
    } m;
    link_msg(&m.h, sizeof m, RTM_DELLINK, 0, name);
    nl_talk(&m.h);
}

static void podnet_cleanup(void)
{
    for (int i = 0; i < pod_made_veths; i++)
        link_del(pod_veths[i][0]);
    pod_made_veths = 0;
    for (int i = 0; i < pod_made_bridges; i++) {
        struct ifreq ifr;
        memset(&ifr, 0, sizeof ifr);
        strncpy(ifr.ifr_name, pod_bridges[i], IFNAMSIZ - 1);
        if (!ioctl(tap_sock, SIOCGIFFLAGS, &ifr)) {
            ifr.ifr_flags &= ~IFF_UP;
            ioctl(tap_sock, SIOCSIFFLAGS, &ifr);
        }
        ioctl(tap_sock, SIOCBRDELBR, pod_bridges[i]);
    }
    pod_made_bridges = 0;
}

static void bridge_add_port(const char *bridge, const char *port)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, bridge, IFNAMSIZ - 1);
    ifr.ifr_ifindex = (int)if_nametoindex(port);
    if (ifr.ifr_ifindex == 0 || ioctl(tap_sock, SIOCBRADDIF, &ifr) < 0)
        die("SIOCBRADDIF");
}

/* Wait until the frame F written into tap A comes out of tap B: the links' carriers and
 * qdiscs and the bridge ports' forwarding state are set by the kernel's link watch, after
 * the links came up and asynchronously, and frames written before are dropped on the way.
 * Then empty B's queue (it also holds what the new links sent themselves, IPv6 and such). */
static void podnet_ready(int fd_in, int fd_out, const uint8_t *f, size_t len)
{
    int fl = fcntl(fd_out, F_GETFL);
    if (fl < 0 || fcntl(fd_out, F_SETFL, fl | O_NONBLOCK) < 0)
        die("fcntl");
    uint8_t buf[2048];
    int64_t give_up = now_ns() + 2000000000LL;
    for (int through = 0; !through;) {
        if (write(fd_in, f, len) != (ssize_t)len) {
            check_timeout();
            die("write of a frame");
        }
        struct pollfd p = {.fd = fd_out, .events = POLLIN};
        if (poll(&p, 1, 10) < 0 && errno != EINTR)
            die("poll");
        check_timeout();
        ssize_t r;
        while ((r = read(fd_out, buf, sizeof buf)) > 0)
            through |= r == (ssize_t)len && !memcmp(buf, f, len);
        if (!through && now_ns() > give_up)
            fail("no frame written into the first pod's tap came out of the second's within "
                 "2 s: the pod network does not forward");
    }
    if (fcntl(fd_out, F_SETFL, fl) < 0)
        die("fcntl");
}

static void exp_podnet(long n, long warm)
{
    /* the caller's bridge netfilter settings, for the new namespace (set where they differ:
     * /proc/sys may be read-only in a container) */
    static const char *const nf_keys[3] = {"iptables", "ip6tables", "arptables"};
    char nf_paths[3][64];
    long nf_vals[3];
    for (int i = 0; i < 3; i++) {
        snprintf(nf_paths[i], sizeof nf_paths[i], "/proc/sys/net/bridge/bridge-nf-call-%s",
                 nf_keys[i]);
        nf_vals[i] = file_long(nf_paths[i]);
    }
    if (unshare(CLONE_NEWNET) < 0)
        die("unshare(CLONE_NEWNET) (a network namespace of its own: needs CAP_SYS_ADMIN)");
    for (int i = 0; i < 3; i++) {
        if (nf_vals[i] < 0 || file_long(nf_paths[i]) == nf_vals[i])
            continue;
        char v[24];
        int len = snprintf(v, sizeof v, "%ld\n", nf_vals[i]);
        int fd = open(nf_paths[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, v, (size_t)len) != len)
            die("copy the caller's bridge-nf-call-* into the network namespace");
        close(fd);
    }
    tap_sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (tap_sock < 0)
        die("socket");
    pod_nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (pod_nl < 0)
        die("socket(AF_NETLINK)");
    atexit(podnet_cleanup);
    char in[IFNAMSIZ], out[IFNAMSIZ];
    int fd_in = tap_open(in), fd_out = tap_open(out);
    for (int i = 0; i < POD_BRIDGES; i++) {
        if (ioctl(tap_sock, SIOCBRADDBR, pod_bridges[i]) < 0)
            die("SIOCBRADDBR (create a bridge: needs the bridge module and CAP_NET_ADMIN)");
        pod_made_bridges = i + 1;
    }
    for (int i = 0; i < POD_VETHS; i++) {
        veth_add(pod_veths[i][0], pod_veths[i][1]);
        pod_made_veths = i + 1;
    }
    bridge_add_port(pod_bridges[0], in);
    bridge_add_port(pod_bridges[0], pod_veths[0][0]);
    bridge_add_port(pod_bridges[1], pod_veths[0][1]);
    bridge_add_port(pod_bridges[1], pod_veths[1][1]);
    bridge_add_port(pod_bridges[2], pod_veths[1][0]);
    bridge_add_port(pod_bridges[2], out);
    for (int i = 0; i < POD_VETHS; i++) {
        tap_up(pod_veths[i][0]);
        tap_up(pod_veths[i][1]);
    }
    for (int i = 0; i < POD_BRIDGES; i++)
        tap_up(pod_bridges[i]);
    uint8_t f[60];
    flood_frame(f);
    podnet_ready(fd_in, fd_out, f, sizeof f);
    time_forwarded("podnet", "podnet", fd_in, out, f, sizeof f, n, warm);
    printf("podnet_links %s,%s,%s,%s,%s,%s,%s,%s,%s\n", in, out, pod_bridges[0],
           pod_bridges[1], pod_bridges[2], pod_veths[0][0], pod_veths[0][1], pod_veths[1][0],
           pod_veths[1][1]);
    podnet_cleanup();
    close(fd_in);
    close(fd_out);
    close(pod_nl);
    close(tap_sock);
}

/* KVM_RUN that returns at once (immediate_exit): the ioctl's own cost. */
static void exp_runimm(long n)
{
    vm_create(0);
    uint8_t code[64];
    load_code(code, code_pio(code));
    vcpu_create(0);
    struct vcpu *v = &vcpus[0];
    expect_io(v, run_once(v), PORT_EXIT);  /* first entry outside the timing */
    v->run->immediate_exit = 1;
    int64_t *s = alloc_samples(n);
    for (long i = 0; i < n && !timed_out; i++) {
        int64_t t0 = now_ns();
        int r = ioctl(v->fd, KVM_RUN, 0);
        s[i] = now_ns() - t0;
        if (r == 0 || errno != EINTR)
            fail("KVM_RUN with immediate_exit did not return EINTR");
    }
    check_timeout();
    emit_samples("runimm", s, n);
}

/* Round trip of a guest access that exits to this VMM: PIO out, MMIO write, MMIO read. */
static void exp_exit(const char *kind, long n, long warm)
{
    uint8_t code[64];
    size_t len;
    int want = KVM_EXIT_IO;
    if (!strcmp(kind, "mmiow")) {
        len = code_mmio(code, 1), want = KVM_EXIT_MMIO;
    } else if (!strcmp(kind, "mmior")) {
        len = code_mmio(code, 0), want = KVM_EXIT_MMIO;
    } else if (!strcmp(kind, "pio")) {
        len = code_pio(code);
    } else {
        fail("unknown exit kind");
    }
    vm_create(0);
    load_code(code, len);
    vcpu_create(0);
    struct vcpu *v = &vcpus[0];
    int64_t *s = alloc_samples(n);
    for (long i = -warm; i < n; i++) {
        int64_t t0 = now_ns();
        int r = run_once(v);
        int64_t t1 = now_ns();
        if (r == -1)
            break;
        if (r != want) {
            fprintf(stderr, "iovprobe: %s: exit reason %d, expected %d\n", kind, r, want);
            exit(2);
        }
        if (want == KVM_EXIT_MMIO)
            memset(v->run->mmio.data, 0x5a, sizeof v->run->mmio.data);  /* the device's answer */
        if (i >= 0)
            s[i] = t1 - t0;
    }
    check_timeout();
    emit_samples(kind, s, n);
}

/* Guest loop of K bodies per KVM_RUN; body nop|out|in on PORT.  The VMM registers an
 * ioeventfd on PORT_KICK and creates the in-kernel irqchip (PIC on PORT_PIC). */
static void exp_loop(const char *body, int port, int k, long n, long warm)
{
    uint8_t op = 0x90;
    if (!strcmp(body, "out"))
        op = 0xEE;
    else if (!strcmp(body, "in"))
        op = 0xEC;
    else if (strcmp(body, "nop"))
        fail("unknown loop body");
    if (k < 1 || k > 65535)
        fail("loop count must be in 1..65535");
    vm_create(1);
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0)
        die("eventfd");
    struct kvm_ioeventfd io = {.addr = PORT_KICK, .len = 1, .fd = efd,
                               .flags = KVM_IOEVENTFD_FLAG_PIO};
    if (ioctl(vm_fd, KVM_IOEVENTFD, &io) < 0)
        die("KVM_IOEVENTFD");
    uint8_t code[64];
    size_t len = code_loop(code, op, k, port);
    load_code(code, len);
    vcpu_create(0);
    struct vcpu *v = &vcpus[0];
    int64_t *s = alloc_samples(n);
    for (long i = -warm; i < n; i++) {
        int64_t t0 = now_ns();
        int r = run_once(v);
        int64_t t1 = now_ns();
        if (r == -1)
            break;
        expect_io(v, r, PORT_EXIT);
        if (i >= 0)
            s[i] = t1 - t0;
    }
    check_timeout();
    uint64_t cnt = 0;
    if (read(efd, &cnt, sizeof cnt) < 0 && errno != EAGAIN)
        die("read eventfd");
    printf("kicks %llu\n", (unsigned long long)cnt);
    emit_samples("loop", s, n);
}

/* --- a backend thread waiting on an eventfd: blocked in read() or busy-polling */
struct waker {
    int efd;
    int poll;  /* 0: blocked in read(), 1: busy-polling read(), 2: blocked in epoll_wait() */
    int epfd;
    long n;
    int64_t *wake;  /* time the backend saw each event */
    atomic_int ready;  /* 1: backend is waiting for the next event */
    atomic_long seen;
};

static void *backend_main(void *arg)
{
    struct waker *w = arg;
    uint64_t cnt;
    for (long i = 0; i < w->n && !atomic_load(&stop);) {
        atomic_store(&w->ready, 1);
        if (w->poll == 2) {
            struct epoll_event ev;
            int ne = epoll_wait(w->epfd, &ev, 1, 100);  /* 100 ms: re-check stop */
            if (ne <= 0) {
                if (ne < 0 && errno != EINTR)
                    die("epoll_wait");
                continue;
            }
        }
        ssize_t r = read(w->efd, &cnt, sizeof cnt);
        int64_t t = now_ns();
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                sched_yield();  /* a polling backend that still lets a co-located thread run */
                continue;
            }
            die("backend read");
        }
        atomic_store(&w->ready, 0);
        w->wake[i] = t;
        atomic_store(&w->seen, ++i);
    }
    return NULL;
}

static void waker_start(struct waker *w, pthread_t *th, int poll, long n)
{
    w->efd = eventfd(0, EFD_CLOEXEC | (poll ? EFD_NONBLOCK : 0));
    if (w->efd < 0)
        die("eventfd");
    w->poll = poll;
    w->epfd = -1;
    if (poll == 2) {
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = w->efd};
        if (w->epfd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->efd, &ev) < 0)
            die("epoll");
    }
    w->n = n;
    w->wake = alloc_samples(n);
    atomic_store(&w->ready, 0);
    atomic_store(&w->seen, 0);
    if (pthread_create(th, NULL, backend_main, w))
        fail("pthread_create");
}

/* Wait until the backend is idle in read()/its poll loop, then a settle time so that a
 * blocking reader is really asleep. */
static void waker_wait_ready(struct waker *w, long i, int64_t settle_ns)
{
    /* yield while waiting: if both threads share a CPU the other one must get to run */
    while ((atomic_load(&w->seen) < i || !atomic_load(&w->ready)) && !atomic_load(&stop))
        sched_yield();
    spin_until(now_ns() + settle_ns);
}

/* Host thread -> host thread: eventfd write to the backend seeing it. */
static void exp_evwake(int poll, long n, long warm, long settle_us)
{
    struct waker w;
    pthread_t th;
    long total = n + warm;
    /* mode 3: a reader blocked in read(), and a waker that keeps its CPU busy after the
     * write (as a vCPU thread that kicks and re-enters the guest, or a mutex releaser) */
    int busy = poll == 3;
    if (busy)
        poll = 0;
    waker_start(&w, &th, poll, total);
    int64_t *t0 = alloc_samples(total);
    int64_t *wr = alloc_samples(total);  /* the waker's cost: the write() that wakes */
    uint64_t one = 1;
    for (long i = 0; i < total && !atomic_load(&stop); i++) {
        waker_wait_ready(&w, i, settle_us * 1000);
        t0[i] = now_ns();
        if (write(w.efd, &one, sizeof one) != sizeof one)
            die("eventfd write");
        wr[i] = now_ns() - t0[i];
        /* busy waker: spin (no yield) until the reader has run, at most 50 ms */
        while (busy && atomic_load(&w.seen) <= i && now_ns() < t0[i] + 50000000LL &&
               !atomic_load(&stop)) {
        }
    }
    while (atomic_load(&w.seen) < total && !atomic_load(&stop))
        sched_yield();
    if (atomic_load(&w.seen) < total) {  /* stopped early: release a blocked reader */
        uint64_t one = 1;
        atomic_store(&stop, 1);
        if (write(w.efd, &one, sizeof one) < 0)
            die("eventfd write");
    }
    atomic_store(&stop, 1);
    pthread_join(th, NULL);
    check_timeout();
    int64_t *s = alloc_samples(n);
    for (long i = 0; i < n; i++)
        s[i] = w.wake[i + warm] - t0[i + warm];
    static const char *wk[] = {"evwake_block", "evwake_poll", "evwake_epoll", "evwake_busy"};
    static const char *wt[] = {"evwrite_block", "evwrite_poll", "evwrite_epoll",
                               "evwrite_busy"};
    int m = busy ? 3 : poll;
    emit_samples(wk[m], s, n);
    emit_samples(wt[m], wr + warm, n);
}

/* Guest kick through ioeventfd -> backend thread sees it.  Measured from the VMM's entry
 * into KVM_RUN; the guest's first instruction pair is the kick. */
static void exp_kickwake(int poll, long n, long warm, long settle_us)
{
    vm_create(0);
    struct waker w;
    pthread_t th;
    long total = n + warm;
    waker_start(&w, &th, poll, total);
    struct kvm_ioeventfd io = {.addr = PORT_KICK, .len = 1, .fd = w.efd,
                               .flags = KVM_IOEVENTFD_FLAG_PIO};
    if (ioctl(vm_fd, KVM_IOEVENTFD, &io) < 0)
        die("KVM_IOEVENTFD");
    uint8_t code[64];
    load_code(code, code_kick(code));
    vcpu_create(0);
    struct vcpu *v = &vcpus[0];
    int64_t *t0 = alloc_samples(total);
    int64_t *rtt = alloc_samples(total);
    for (long i = 0; i < total && !atomic_load(&stop); i++) {
        waker_wait_ready(&w, i, settle_us * 1000);
        t0[i] = now_ns();
        int r = run_once(v);
        rtt[i] = now_ns() - t0[i];
        if (r == -1)
            break;
        expect_io(v, r, PORT_EXIT);
    }
    while (atomic_load(&w.seen) < total && !atomic_load(&stop))
        sched_yield();
    if (atomic_load(&w.seen) < total) {  /* stopped early: release a blocked reader */
        uint64_t one = 1;
        atomic_store(&stop, 1);
        if (write(w.efd, &one, sizeof one) < 0)
            die("eventfd write");
    }
    atomic_store(&stop, 1);
    pthread_join(th, NULL);
    check_timeout();
    int64_t *s = alloc_samples(n);
    for (long i = 0; i < n; i++)
        s[i] = w.wake[i + warm] - t0[i + warm];
    static const char *kw[] = {"kickwake_block", "kickwake_poll", "kickwake_epoll"};
    emit_samples(kw[poll], s, n);
    emit_samples("kick_exit_rtt", rtt + warm, n);
}

/* irqfd: eventfd write (another thread) -> the guest's handler exits to PORT_IRQ. */
struct irqctx {
    int efd;
    long total;
    int64_t settle_ns;
    int64_t *t0;
    atomic_long handled;  /* handler exits seen by the vCPU thread */
};

static void *irq_sender(void *arg)
{
    struct irqctx *c = arg;
    uint64_t one = 1;
    for (long i = 0; i < c->total && !atomic_load(&stop); i++) {
        while (atomic_load(&c->handled) < i && !atomic_load(&stop))
            sched_yield();
        spin_until(now_ns() + c->settle_ns);  /* let the guest return to its idle loop */
        c->t0[i] = now_ns();
        if (write(c->efd, &one, sizeof one) != sizeof one)
            die("irqfd write");
    }
    return NULL;
}

static void exp_irqfd(int halt, long n, long warm, long settle_us)
{
    if (guest_long)
        fail("irqfd experiment needs the real-mode guest (its handler runs in ring 0)");
    vm_create(1);
    struct irqctx c;
    c.total = n + warm;
    c.settle_ns = settle_us * 1000;
    c.t0 = alloc_samples(c.total);
    atomic_store(&c.handled, 0);
    c.efd = eventfd(0, EFD_CLOEXEC);
    if (c.efd < 0)
        die("eventfd");
    struct kvm_irqfd irqfd = {.fd = (uint32_t)c.efd, .gsi = IRQ_LINE};
    if (ioctl(vm_fd, KVM_IRQFD, &irqfd) < 0)
        die("KVM_IRQFD");
    uint8_t code[0x200];
    memset(code, 0x90, sizeof code);
    size_t len = code_irq(code, halt);
    load_code(code, len);
    vcpu_create(0);
    struct vcpu *v = &vcpus[0];
    expect_io(v, run_once(v), PORT_EXIT);  /* PIC programmed, handler installed */
    check_timeout();
    pthread_t th;
    if (pthread_create(&th, NULL, irq_sender, &c))
        fail("pthread_create");
    int64_t *s = alloc_samples(n);
    for (long i = 0; i < c.total;) {
        int r = run_once(v);
        int64_t t1 = now_ns();
        if (r == -1)
            break;
        expect_io(v, r, PORT_IRQ);
        if (i >= warm)
            s[i - warm] = t1 - c.t0[i];
        atomic_store(&c.handled, ++i);
    }
    atomic_store(&stop, 1);
    pthread_join(th, NULL);
    check_timeout();
    emit_samples(halt ? "irqfd_halt" : "irqfd_spin", s, n);
}

/* V vCPU threads, each exit handled for HOLD µs, under one shared mutex or not. */
struct mctx {
    int use_mutex;
    int64_t hold_ns;
    long cap;
    pthread_mutex_t lock;
    atomic_int go;
    atomic_int measuring;
};
static struct mctx M;
struct mthread {
    int id;
    long count;      /* exits while measuring */
    int64_t *lat;    /* per-exit cycle time while measuring */
};

static void *mutex_vcpu(void *arg)
{
    struct mthread *t = arg;
    struct vcpu *v = &vcpus[t->id];
    while (!atomic_load(&M.go) && !atomic_load(&stop)) {
    }
    int64_t prev = now_ns();
    while (!atomic_load(&stop)) {
        /* emulate the device access this exit asks for */
        if (M.use_mutex)
            pthread_mutex_lock(&M.lock);
        if (M.hold_ns > 0)
            spin_until(now_ns() + M.hold_ns);
        if (M.use_mutex)
            pthread_mutex_unlock(&M.lock);
        int r = run_once(v);
        int64_t now = now_ns();
        if (r == -1)
            break;
        expect_io(v, r, PORT_EXIT);
        if (atomic_load_explicit(&M.measuring, memory_order_relaxed) && t->count < M.cap)
            t->lat[t->count++] = now - prev;
        prev = now;
    }
    return NULL;
}

static void exp_mutex(int nv, double hold_us, int use_mutex, double dur_s, double warm_s,
                      long cap)
{
    if (nv < 1 || nv > MAX_VCPUS)
        fail("vcpus must be in 1..64");
    vm_create(0);
    uint8_t code[64];
    load_code(code, code_pio(code));
    M.use_mutex = use_mutex;
    M.hold_ns = (int64_t)(hold_us * 1000.0);
    M.cap = cap;
    pthread_mutex_init(&M.lock, NULL);
    struct mthread th[MAX_VCPUS];
    for (int i = 0; i < nv; i++) {
        vcpu_create(i);
        th[i].id = i;
        th[i].count = 0;
        th[i].lat = alloc_samples(cap);
    }
    for (int i = 0; i < nv; i++) {
        if (pthread_create(&vcpus[i].thread, NULL, mutex_vcpu, &th[i]))
            fail("pthread_create");
        vcpus[i].started = 1;
    }
    atomic_store(&M.go, 1);
    /* one sleep per phase: a main thread waking every millisecond would preempt the vCPU
     * threads and show up in their latencies */
    sleep_until(now_ns() + (int64_t)(warm_s * 1e9));
    int64_t m0 = now_ns();
    atomic_store(&M.measuring, 1);
    sleep_until(m0 + (int64_t)(dur_s * 1e9));
    atomic_store(&M.measuring, 0);
    int64_t m1 = now_ns();
    atomic_store(&stop, 1);
    for (int i = 0; i < nv; i++) {
        vcpus[i].run->immediate_exit = 1;
        pthread_kill(vcpus[i].thread, SIGUSR1);
    }
    for (int i = 0; i < nv; i++)
        pthread_join(vcpus[i].thread, NULL);
    check_timeout();
    long total = 0;
    for (int i = 0; i < nv; i++)
        total += th[i].count;
    printf("exits %ld\nelapsed_ns %lld\n", total, (long long)(m1 - m0));
    int64_t *all = alloc_samples(total);
    long k = 0;
    for (int i = 0; i < nv; i++) {
        memcpy(all + k, th[i].lat, (size_t)th[i].count * sizeof *all);
        k += th[i].count;
    }
    emit_samples("mutex", all, total);
}

/* CPU contention: T threads spin on the clock for DUR_S (VCPUS=0), or each loops KVM_RUN on
 * its own vCPU of one VM (VCPUS=1); a gap longer than 20 µs (200 µs for vCPU threads)
 * between two clock reads means the thread was off its CPU.  Emits the gaps (how long a
 * preempted thread waits) and the run lengths between them (how long a thread keeps its
 * CPU: the time slice), and the CPU time all threads obtained. */
struct sthread {
    pthread_t th;
    int64_t end;
    long ng, cap;
    int64_t *gap, *runlen;
    int64_t begin, finish, off;  /* off: sum of all gaps, the time spent off-CPU */
    int vcpu;                    /* -1: spin on the clock; else loop KVM_RUN on this vCPU */
};

static void *slice_main(void *arg)
{
    struct sthread *t = arg;
    int64_t prev = now_ns(), since = prev;
    /* a gap is a pause far longer than one loop iteration (an exit takes up to ~50 µs) */
    int64_t threshold = t->vcpu < 0 ? 20000 : 200000;
    t->begin = prev;
    t->off = 0;
    while (prev < t->end && !atomic_load(&stop)) {
        if (t->vcpu >= 0) {
            struct vcpu *v = &vcpus[t->vcpu];
            int r = run_once(v);
            if (r == -1)
                break;
            expect_io(v, r, PORT_EXIT);
        }
        int64_t now = now_ns();
        if (now - prev > threshold) {
            t->off += now - prev;
            if (t->ng < t->cap) {
                t->gap[t->ng] = now - prev;
                t->runlen[t->ng++] = prev - since;
            }
            since = now;
        }
        prev = now;
    }
    t->finish = prev;
    return NULL;
}

static void exp_slice(int nthreads, double dur_s, int use_vcpus)
{
    if (nthreads < 1 || nthreads > MAX_VCPUS)
        fail("threads must be in 1..64");
    struct sthread t[MAX_VCPUS];
    if (use_vcpus) {
        vm_create(0);
        uint8_t code[64];
        load_code(code, code_pio(code));
        for (int i = 0; i < nthreads; i++)
            vcpu_create(i);
    }
    int64_t end = now_ns() + (int64_t)(dur_s * 1e9);
    for (int i = 0; i < nthreads; i++) {
        t[i].vcpu = use_vcpus ? i : -1;
        t[i].end = end;
        t[i].ng = 0;
        t[i].cap = 100000;
        t[i].gap = alloc_samples(t[i].cap);
        t[i].runlen = alloc_samples(t[i].cap);
        if (pthread_create(&t[i].th, NULL, slice_main, &t[i]))
            fail("pthread_create");
        if (use_vcpus) {
            vcpus[i].thread = t[i].th;
            vcpus[i].started = 1;
        }
    }
    long total = 0;
    int64_t oncpu = 0, first = INT64_MAX, last = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(t[i].th, NULL);
        total += t[i].ng;
        oncpu += t[i].finish - t[i].begin - t[i].off;
        first = t[i].begin < first ? t[i].begin : first;
        last = t[i].finish > last ? t[i].finish : last;
    }
    check_timeout();
    /* CPU time the spinning threads obtained: how many CPUs this process can really use */
    printf("oncpu_ns %lld\nelapsed_ns %lld\n", (long long)oncpu, (long long)(last - first));
    int64_t *g = alloc_samples(total), *r = alloc_samples(total);
    long k = 0;
    for (int i = 0; i < nthreads; i++) {
        /* the first run length starts at thread creation: drop it */
        for (long j = 1; j < t[i].ng; j++, k++) {
            g[k] = t[i].gap[j];
            r[k] = t[i].runlen[j];
        }
    }
    emit_samples("gap", g, k);
    emit_samples("runlen", r, k);
}

static long arg_long(const char *s, const char *name)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 0) {
        fprintf(stderr, "iovprobe: %s must be a non-negative integer, got %s\n", name, s);
        exit(2);
    }
    return v;
}

static double arg_double(const char *s, const char *name)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= 0)) {
        fprintf(stderr, "iovprobe: %s must be a non-negative number, got %s\n", name, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        fail("usage: iovprobe LIMIT_S real|long EXPERIMENT ARGS...");
    double limit = arg_double(argv[1], "LIMIT_S");
    if (!strcmp(argv[2], "long"))
        guest_long = 1;
    else if (strcmp(argv[2], "real"))
        fail("guest mode must be real or long");
    const char *e = argv[3];
    char **a = argv + 4;
    int na = argc - 4;
    watchdog(limit);
    printf("iovprobe 1\n");
    if (!strcmp(e, "empty") && na == 1)
        exp_empty(arg_long(a[0], "N"));
    else if (!strcmp(e, "syscall") && na == 1)
        exp_syscall(arg_long(a[0], "N"));
    else if (!strcmp(e, "lock") && na == 1)
        exp_lock(arg_long(a[0], "N"));
    else if (!strcmp(e, "pagecache") && na == 3)
        exp_pagecache(a[0], arg_long(a[1], "PAGES"), arg_long(a[2], "N"));
    else if (!strcmp(e, "tap") && na == 2)
        exp_tap(arg_long(a[0], "N"), arg_long(a[1], "WARM"));
    else if (!strcmp(e, "podnet") && na == 2)
        exp_podnet(arg_long(a[0], "N"), arg_long(a[1], "WARM"));
    else if (!strcmp(e, "nat") && na == 3)
        exp_nat(arg_long(a[0], "N"), arg_long(a[1], "WARM"), a[2]);
    else if (!strcmp(e, "runimm") && na == 1)
        exp_runimm(arg_long(a[0], "N"));
    else if (!strcmp(e, "exit") && na == 3)
        exp_exit(a[0], arg_long(a[1], "N"), arg_long(a[2], "WARM"));
    else if (!strcmp(e, "loop") && na == 5)
        exp_loop(a[0], (int)arg_long(a[1], "PORT"), (int)arg_long(a[2], "K"),
                 arg_long(a[3], "N"), arg_long(a[4], "WARM"));
    else if ((!strcmp(e, "evwake") || !strcmp(e, "kickwake")) && na == 4 &&
             arg_long(a[0], "MODE") > (strcmp(e, "evwake") ? 2 : 3))
        fail("MODE must be 0 (read), 1 (poll), 2 (epoll) or, for evwake, 3 (busy waker)");
    else if (!strcmp(e, "evwake") && na == 4)
        exp_evwake((int)arg_long(a[0], "POLL"), arg_long(a[1], "N"), arg_long(a[2], "WARM"),
                   arg_long(a[3], "SETTLE_US"));
    else if (!strcmp(e, "kickwake") && na == 4)
        exp_kickwake((int)arg_long(a[0], "POLL"), arg_long(a[1], "N"), arg_long(a[2], "WARM"),
                     arg_long(a[3], "SETTLE_US"));
    else if (!strcmp(e, "irqfd") && na == 4)
        exp_irqfd((int)arg_long(a[0], "HALT"), arg_long(a[1], "N"), arg_long(a[2], "WARM"),
                  arg_long(a[3], "SETTLE_US"));
    else if (!strcmp(e, "mutex") && na == 6)
        exp_mutex((int)arg_long(a[0], "VCPUS"), arg_double(a[1], "HOLD_US"),
                  (int)arg_long(a[2], "MUTEX"), arg_double(a[3], "DUR_S"),
                  arg_double(a[4], "WARM_S"), arg_long(a[5], "CAP"));
    else if (!strcmp(e, "slice") && na == 3)
        exp_slice((int)arg_long(a[0], "THREADS"), arg_double(a[1], "DUR_S"),
                  (int)arg_long(a[2], "VCPUS"));
    else
        fail("unknown experiment or wrong number of arguments");
    printf("end\n");
    fflush(stdout);
    return 0;
}
