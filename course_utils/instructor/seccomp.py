"""The sandbox's seccomp filter: a classic-BPF program that refuses the system calls no notebook needs.

Built here (no dependency: a few BPF instructions assembled by hand) and handed to bubblewrap's
``--seccomp FD``, which installs it before the runner starts; every process of the submission inherits
it and cannot remove it. Refused with ``EPERM``: the kernel keyring (``add_key``, ``request_key``,
``keyctl``: keys outlive the process, per uid), new user namespaces (``unshare`` or ``clone`` with
``CLONE_NEWUSER``) and ``setns``, ``io_uring_*``, ``ptrace`` and ``process_vm_*``, ``mount`` and the
new mount API, ``bpf``, ``perf_event_open``, ``userfaultfd``, module and kexec loading. ``clone3``
gets ``ENOSYS`` (its flags sit in memory a filter cannot read; the C library then uses ``clone``).
A system call of another ABI (i386 on x86_64, x32) kills the process.

What a filter cannot do: it sees numbers and register arguments, not paths or memory, so it does not
stop reading a file the sandbox shows, using the CPU or memory (the cgroup and rlimits do), nor a kernel
bug in an allowed call.
"""

from __future__ import annotations

import errno
import os
import platform
import struct

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
CLONE_NEWUSER = 0x10000000
X32_SYSCALL_BIT = 0x40000000
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000
LD_W_ABS, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06
ARG0_LOW = 16  # offsetof(struct seccomp_data, args[0]), little-endian: its low 32 bits

REFUSED = ("add_key", "request_key", "keyctl", "setns", "io_uring_setup", "io_uring_enter", "io_uring_register",
           "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root", "open_tree",
           "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "bpf", "perf_event_open",
           "userfaultfd", "kexec_load", "init_module", "finit_module")
"""Refused whatever their arguments."""
NO_NEW_USER_NAMESPACE = ("unshare", "clone")
"""Refused when their first argument asks for ``CLONE_NEWUSER``."""

SYSCALLS = {
    "x86_64": {"add_key": 248, "request_key": 249, "keyctl": 250, "setns": 308, "io_uring_setup": 425,
               "io_uring_enter": 426, "io_uring_register": 427, "ptrace": 101, "process_vm_readv": 310,
               "process_vm_writev": 311, "mount": 165, "umount2": 166, "pivot_root": 155, "open_tree": 428,
               "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
               "mount_setattr": 442, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "kexec_load": 246,
               "init_module": 175, "finit_module": 313, "unshare": 272, "clone": 56, "clone3": 435},
    "aarch64": {"add_key": 217, "request_key": 218, "keyctl": 219, "setns": 268, "io_uring_setup": 425,
                "io_uring_enter": 426, "io_uring_register": 427, "ptrace": 117, "process_vm_readv": 270,
                "process_vm_writev": 271, "mount": 40, "umount2": 39, "pivot_root": 41, "open_tree": 428,
                "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
                "mount_setattr": 442, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282, "kexec_load": 104,
                "init_module": 105, "finit_module": 273, "unshare": 97, "clone": 220, "clone3": 435},
}
"""System call numbers (``asm/unistd_64.h`` and ``asm-generic/unistd.h``)."""


class SeccompUnavailable(RuntimeError):
    """No filter for this machine's architecture."""


def supported(machine: str | None = None) -> bool:
    """Whether there is a filter for ``machine`` (``platform.machine()`` by default) and Linux's ``memfd``."""
    return (machine or platform.machine()) in SYSCALLS and hasattr(os, "memfd_create")


def _instruction(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def program(machine: str | None = None) -> bytes:
    """The filter for ``machine`` (``platform.machine()`` by default) as ``struct sock_filter`` records."""
    machine = machine or platform.machine()
    if machine not in SYSCALLS:
        raise SeccompUnavailable(f"no seccomp filter for the architecture {machine!r} (only x86_64 and aarch64)")
    numbers = SYSCALLS[machine]
    # Layout: header, one test per refused call, then ALLOW, EPERM, ENOSYS, and the flag test (jumps go forward).
    head = [(LD_W_ABS, 4, 0, 0), (JEQ, AUDIT_ARCH[machine], 1, 0), (RET, RET_KILL_PROCESS, 0, 0),
            (LD_W_ABS, 0, 0, 0)]
    tests = [("x32", None)] if machine == "x86_64" else []
    tests += [("refuse", numbers[name]) for name in REFUSED]
    tests += [("flags", numbers[name]) for name in NO_NEW_USER_NAMESPACE]
    tests += [("enosys", numbers["clone3"])]
    allow = len(head) + len(tests)
    targets = {"refuse": allow + 1, "x32": allow + 1, "enosys": allow + 2, "flags": allow + 3}
    body = []
    for index, (kind, number) in enumerate(tests, start=len(head)):
        offset = targets[kind] - index - 1
        body.append((JGE, X32_SYSCALL_BIT, offset, 0) if kind == "x32" else (JEQ, number, offset, 0))
    tail = [(RET, RET_ALLOW, 0, 0), (RET, RET_ERRNO | errno.EPERM, 0, 0), (RET, RET_ERRNO | errno.ENOSYS, 0, 0),
            (LD_W_ABS, ARG0_LOW, 0, 0), (JSET, CLONE_NEWUSER, 0, 1), (RET, RET_ERRNO | errno.EPERM, 0, 0),
            (RET, RET_ALLOW, 0, 0)]
    return b"".join(_instruction(code, k, jt, jf) for code, k, jt, jf in head + body + tail)


def program_fd(machine: str | None = None) -> int:
    """A file descriptor (inheritable, at offset 0) holding :func:`program`, for ``bwrap --seccomp FD``.

    The caller passes it to the child (``pass_fds``) and closes it once bwrap has started.
    """
    data = program(machine)
    fd = os.memfd_create("course-kit-seccomp", 0)
    try:
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
    except OSError:
        os.close(fd)
        raise
    return fd
