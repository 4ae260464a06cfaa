# A minimal Python host for the daemon's tests of hostChild and childEnded (issue 14), run in
# place of the embedded one through FORKCTL_HOST_SCRIPT_DIR: it is no language host. Standard
# library only. It keeps what fds and args send, forks (os.fork) with hostChild before forked,
# runs a "program" named RULE without exec, evaluates code, and reports each child's end before
# it reaps it. Programs:
#   exit:N          exit N
#   sleep:S:N       sleep S seconds, then exit N
#   fds             exit with the number of descriptors open (the /proc/self/fd entries)
# The eval code "stop reporting ends" makes it leave its children's ends unreported and
# unreaped, for tests of a host killed meanwhile.
import os
import select
import socket
import struct
import sys
import time

CONTROL = 3
os.close(4)
with open("/proc/self/comm", "w") as comm:
    comm.write("forkctl/object")

control = socket.socket(fileno=CONTROL)
control.sendall(struct.pack("<BBHI", 1, 0xC9, 0, 0))  # hostReady
buffered = b""
received = []
held_fds = []
held_args = []
children = {}
silenced = []
reports_ends = True


def send(kind, payload, fds=()):
    frame = struct.pack("<BBHI", 1, kind, len(fds), len(payload)) + payload
    ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("%di" % len(fds), *fds))] if fds else []
    control.sendmsg([frame], ancillary)


def receive():
    """The next frame as (type, payload, descriptors); None at end of file."""
    global buffered
    while True:
        if len(buffered) >= 8:
            _, kind, count, length = struct.unpack("<BBHI", buffered[:8])
            if len(buffered) >= 8 + length:
                payload = buffered[8:8 + length]
                buffered = buffered[8 + length:]
                fds = received[:count]
                del received[:count]
                return kind, payload, fds
        data, ancillary, _, _ = control.recvmsg(65536, socket.CMSG_SPACE(64 * 4))
        for level, kind, blob in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                received.extend(struct.unpack("%di" % (len(blob) // 4), blob[:len(blob) - len(blob) % 4]))
        if not data:
            return None
        buffered += data


class Reader:
    def __init__(self, payload):
        self.payload = payload
        self.at = 0

    def u32(self):
        value = struct.unpack_from("<I", self.payload, self.at)[0]
        self.at += 4
        return value

    def string(self):
        n = self.u32()
        self.at += n
        return self.payload[self.at - n:self.at]

    def strings(self):
        return [self.string() for _ in range(self.u32())]


def fork(control_fd):
    global control, children, held_fds
    pid = os.fork()
    if pid == 0:
        # The old socket object must not close descriptor 3 when it goes.
        control.detach()
        os.dup2(control_fd, CONTROL)
        os.close(control_fd)
        control = socket.socket(fileno=CONTROL)
        for fd in children.values():
            os.close(fd)
        children = {}
        os.setpgid(0, 0)
        send(0xC4, struct.pack("<i", os.getpid()))
        return
    os.close(control_fd)
    pidfd = os.pidfd_open(pid)
    children[pid] = pidfd
    send(0xC7, struct.pack("<i", pid), [pidfd])
    send(0xC0, struct.pack("<i", pid))


def run(payload, fds):
    flags = struct.unpack_from("<I", payload)[0]
    reader = Reader(payload)
    reader.u32()
    program = reader.string().decode()
    # What the native worker does at a call: its name is the function's, then the control socket
    # closes, and that end of file says it started.
    with open("/proc/self/comm", "w") as comm:
        comm.write(program.split(":")[0][:15])
    # The working directory (flag 2), then the status pipe (flag 16).
    if flags & 2:
        os.fchdir(fds[0])
    for fd in fds:
        os.close(fd)
    os.close(CONTROL)
    rule = program.split(":")
    if rule[0] == "exit":
        os._exit(int(rule[1]))
    if rule[0] == "sleep":
        time.sleep(float(rule[1]))
        os._exit(int(rule[2]))
    if rule[0] == "fds":
        os._exit(len(os.listdir("/proc/self/fd")) - 1)
    os._exit(99)


def ended(pid):
    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    if info is None:
        return
    if info.si_code == os.CLD_EXITED:
        status = struct.pack("<Bi", 1, info.si_status)
    else:
        status = struct.pack("<Bi", 3 if info.si_code == os.CLD_DUMPED else 2, info.si_status)
    if not reports_ends:
        # Left a zombie, its pidfd open, and no longer watched.
        silenced.append(children.pop(pid))
        return
    send(0xC8, struct.pack("<i", pid) + status)
    os.waitpid(pid, 0)
    os.close(children.pop(pid))


def serve():
    global reports_ends
    while True:
        if not buffered:
            ready, _, _ = select.select([CONTROL] + list(children.values()), [], [])
            for pid, fd in list(children.items()):
                if fd in ready:
                    ended(pid)
            if CONTROL not in ready:
                continue
        frame = receive()
        if frame is None:
            os._exit(0)
        kind, payload, fds = frame
        if kind == 0x80:
            fork(fds[0])
        elif kind == 0x81:
            held_fds.extend(fds)
        elif kind == 0x82:
            held_args.extend(Reader(payload).strings())
        elif kind == 0x83:
            run(payload, fds)
        elif kind == 0x86:
            reader = Reader(payload)
            reader.u32()
            code = reader.string().decode()
            if code == "stop reporting ends":
                reports_ends = False
            else:
                exec(code, {})
            names = [b"forkctl/object"]
            send(0xC5, struct.pack("<I", 1) + struct.pack("<I", 1) + struct.pack("<I", len(names[0])) + names[0])
        else:
            for fd in fds:
                os.close(fd)
            message = b"the test host does not serve this command"
            send(0xC1 if kind == 0x84 else 0xC6, struct.pack("<H", 5) + struct.pack("<I", len(message)) + message)


serve()
