using System.Runtime.InteropServices;
using Mono.Unix.Native;

namespace ItkPs.Server.Privileged;

/// <summary>
/// Passing file descriptors between roles over AF_UNIX SOCK_SEQPACKET channels (SCM_RIGHTS),
/// each with a small payload saying what the descriptor is. The only place that does it.
/// Used by the master (listener and channel fds to the dispatcher) and the dispatcher
/// (client connections to workers).
/// </summary>
public static class FdPassing
{
    public const int MaxPayload = 512;

    /// <summary>A connected pair of SEQPACKET sockets, close-on-exec (the spawner clears it on the end it hands down).</summary>
    public static (int A, int B) SocketPair()
    {
        if (Syscall.socketpair(UnixAddressFamily.AF_UNIX, UnixSocketType.SOCK_SEQPACKET, UnixSocketFlags.SOCK_CLOEXEC, 0, out int a, out int b) != 0)
            throw new IOException($"socketpair: {Stdlib.GetLastError()}");
        return (a, b);
    }

    /// <summary>Sends a payload, with one descriptor attached when <paramref name="fd"/> is not -1.</summary>
    public static unsafe void Send(int channel, ReadOnlySpan<byte> payload, int fd = -1)
    {
        if (payload.Length is 0 or > MaxPayload) throw new ArgumentException("payload must be 1..512 bytes");
        fixed (byte* p = payload)
        {
            var msg = new Msghdr
            {
                msg_iov = [new Iovec { iov_base = (IntPtr)p, iov_len = (ulong)payload.Length }],
                msg_iovlen = 1,
            };
            if (fd >= 0)
            {
                var control = new byte[Syscall.CMSG_SPACE(sizeof(int))];
                msg.msg_control = control;
                msg.msg_controllen = control.Length;
                long header = Syscall.CMSG_FIRSTHDR(msg);
                new Cmsghdr
                {
                    cmsg_len = (long)Syscall.CMSG_LEN(sizeof(int)),
                    cmsg_level = UnixSocketProtocol.SOL_SOCKET,
                    cmsg_type = UnixSocketControlMessage.SCM_RIGHTS,
                }.WriteToBuffer(msg, header);
                BitConverter.TryWriteBytes(control.AsSpan((int)Syscall.CMSG_DATA(msg, header)), fd);
            }
            long sent;
            do sent = Syscall.sendmsg(channel, msg, MessageFlags.MSG_NOSIGNAL);
            while (sent < 0 && Stdlib.GetLastError() == Errno.EINTR);
            if (sent < 0) throw new IOException($"sendmsg: {Stdlib.GetLastError()}");
        }
    }

    /// <summary>Receives one message; returns its length (0 at end of stream) and the attached descriptor or -1.</summary>
    public static unsafe int Receive(int channel, Span<byte> buffer, out int fd)
    {
        fd = -1;
        fixed (byte* p = buffer)
        {
            var control = new byte[Syscall.CMSG_SPACE(sizeof(int) * 4)];
            var msg = new Msghdr
            {
                msg_iov = [new Iovec { iov_base = (IntPtr)p, iov_len = (ulong)buffer.Length }],
                msg_iovlen = 1,
                msg_control = control,
                msg_controllen = control.Length,
            };
            long got;
            do got = Syscall.recvmsg(channel, msg, MessageFlags.MSG_CMSG_CLOEXEC);
            while (got < 0 && Stdlib.GetLastError() == Errno.EINTR);
            if (got < 0) throw new IOException($"recvmsg: {Stdlib.GetLastError()}");
            for (long h = Syscall.CMSG_FIRSTHDR(msg); h != -1; h = Syscall.CMSG_NXTHDR(msg, h))
            {
                var c = Cmsghdr.ReadFromBuffer(msg, h);
                if (c.cmsg_level != UnixSocketProtocol.SOL_SOCKET || c.cmsg_type != UnixSocketControlMessage.SCM_RIGHTS) continue;
                int count = (int)((c.cmsg_len - (long)Syscall.CMSG_LEN(0)) / sizeof(int));
                long data = Syscall.CMSG_DATA(msg, h);
                for (int i = 0; i < count; i++)
                {
                    int received = BitConverter.ToInt32(control, (int)data + i * sizeof(int));
                    if (fd < 0) fd = received;
                    else Syscall.close(received); // one descriptor per message: extras are a protocol error
                }
            }
            return (int)got;
        }
    }

    /// <summary>Allows or forbids a descriptor to survive exec (children get it at the same number).</summary>
    public static void SetInheritable(int fd, bool inheritable)
    {
        int flags = Native.fcntl(fd, Native.F_GETFD, 0);
        if (flags < 0) throw new IOException($"fcntl({fd}): {Native.Error()}");
        flags = inheritable ? flags & ~Native.FD_CLOEXEC : flags | Native.FD_CLOEXEC;
        if (Native.fcntl(fd, Native.F_SETFD, flags) < 0) throw new IOException($"fcntl({fd}): {Native.Error()}");
    }
}
